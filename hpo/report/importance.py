"""Hyperparameter importance of Study I with fANOVA (Hutter et al. 2014): the fraction of the
variance of the score that each hyperparameter, and each pair, explains on its own, and the
marginal curves of Fig. 3.

fANOVA fits a random forest (pyrfr) to the configurations and decomposes the forest's prediction
over the space, weighting every point by its volume. So that this measure matches how the
configurations were sampled, each hyperparameter is encoded before fitting:

- a float is a continuous feature: its value, or log10 of it for a log-scale float;
- a categorical is a categorical feature: the index of its value among the choices;
- an ordinal is a continuous feature: the index of its value in the sequence, bounded by
  [-0.5, n - 0.5] so that every value owns a unit of volume and splits keep the order;
- a constant is left out (it has no variance to explain).

The pooled analysis across datasets is the same call with the trials of all datasets.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    Constant,
    OrdinalHyperparameter,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from hpo.errors import UserError
from hpo.space import native

MARGINALS_FILE = "marginals.json"  # the importance study's artifact that the report draws Fig. 3 from
# Below 3, most bootstrap samples repeat one point and leave the trees nothing to split; a few
# trials give a rough ranking at best (see the std columns).
MIN_TRIALS = 3
GRID = 50  # points of a numeric hyperparameter's marginal curve


@dataclass
class Marginal:
    """Predicted score against one hyperparameter, the others averaged out: one point per value
    of a categorical or ordinal, a grid over a float. std is across the forest's trees."""
    name: str
    kind: str  # "linear", "log", "categorical" or "ordinal"
    values: list
    mean: np.ndarray
    std: np.ndarray


@dataclass
class ImportanceResult:
    """Fractions of the variance of the forest's prediction over the space, mean and std across
    trees. A pair's importance is its interaction alone (its two main effects subtracted)."""
    individual: pd.DataFrame  # hyperparameter, importance, std; in the space's order
    pairs: pd.DataFrame  # first, second, importance, std; most important first
    marginals: dict[str, Marginal]
    n_trials: int  # trials analysed (finite scores)


def _fanova_class():
    # fanova 2.0.19 still writes np.float, an alias NumPy 1.24 removed; put it back (only where
    # absent) before the import so that fanova runs on the NumPy this project pins.
    if not hasattr(np, "float"):
        np.float = float
    from fanova import fANOVA
    return fANOVA


class _Encoding(NamedTuple):
    hp: object  # the hyperparameter fanova sees
    encode: Callable  # a configuration's value -> feature
    grid: np.ndarray  # features of the marginal curve
    values: list  # the grid as the space's values
    kind: str


def _encoding(p) -> _Encoding:
    if isinstance(p, (UniformFloatHyperparameter, UniformIntegerHyperparameter)):
        to, back = (math.log10, lambda x: 10.0 ** x) if p.log else (float, float)
        low, high = to(p.lower), to(p.upper)
        slack = 1e-9 * (p.upper - p.lower)

        def encode(value):
            try:
                x = float(value)
            except (TypeError, ValueError):
                x = math.nan
            if not p.lower - slack <= x <= p.upper + slack:
                raise UserError(f"{p.name}={value!r} is outside the space's [{p.lower}, {p.upper}]; "
                                "analyse trials of this space only")
            return min(max(to(x), low), high)

        grid = np.linspace(low, high, GRID)
        return _Encoding(UniformFloatHyperparameter(p.name, low, high), encode, grid,
                         [float(back(x)) for x in grid], "log" if p.log else "linear")
    if isinstance(p, (CategoricalHyperparameter, OrdinalHyperparameter)):
        options = [native(o) for o in (p.choices if isinstance(p, CategoricalHyperparameter) else p.sequence)]

        def encode(value):
            # str() also matches values read back as text (tracking stores parameters as strings)
            for i, option in enumerate(options):
                if option == value or str(option) == str(value):
                    return float(i)
            raise UserError(f"{p.name}={value!r} is not one of the space's {options}; "
                            "analyse trials of this space only")

        n = len(options)
        if isinstance(p, CategoricalHyperparameter):
            hp, kind = CategoricalHyperparameter(p.name, list(range(n))), "categorical"
        else:
            hp, kind = UniformFloatHyperparameter(p.name, -0.5, n - 0.5), "ordinal"
        return _Encoding(hp, encode, np.arange(n, dtype=float), options, kind)
    raise TypeError(f"fANOVA analysis does not support {type(p).__name__} {p.name}")


def _finite(configs: list[dict], scores: list[float]) -> tuple[list[dict], np.ndarray]:
    if len(configs) != len(scores):
        raise ValueError(f"{len(configs)} configurations but {len(scores)} scores")
    y = np.array([np.nan if s is None else s for s in scores], dtype=float)
    keep = np.isfinite(y)
    if keep.sum() < MIN_TRIALS:
        raise UserError(f"only {int(keep.sum())} of {len(y)} trials have a finite score; fANOVA needs at "
                        f"least {MIN_TRIALS}: run more trials")
    y = y[keep]
    if np.ptp(y) == 0:
        raise UserError(f"all {len(y)} scores are equal ({y[0]:g}): there is no variance to attribute to "
                        "hyperparameters; train longer or widen the space")
    return [c for c, k in zip(configs, keep, strict=True) if k], y


def _fit(fanova_class, X: pd.DataFrame, y: np.ndarray, cs: ConfigurationSpace, **options):
    # fanova calls logging.basicConfig(level=INFO), which would turn on INFO logging for the
    # whole process; give the root logger its handlers and level back.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return fanova_class(X, y, config_space=cs, **options)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def fanova_importances(space: ConfigurationSpace, configs: list[dict], scores: list[float], seed: int,
                       n_trees: int = 64, min_samples_leaf: int = 1) -> ImportanceResult:
    """fANOVA over the varying hyperparameters of `space`, from configurations and their scores
    (higher is better or lower is better alike: variance has no direction). Trials with a NaN or
    missing score are dropped. The same inputs and seed give the same result.

    min_samples_leaf is the forest's (fanova's default grows full trees); raise it to 3-5 for
    hundreds of trials: the pairwise analysis costs the square of the number of splits."""
    hps = [p for p in space.values() if not isinstance(p, Constant)]
    if not hps:
        raise UserError("every hyperparameter of the space is fixed: there is nothing to analyse")
    configs, y = _finite(configs, scores)
    encodings = {p.name: _encoding(p) for p in hps}
    for i, config in enumerate(configs):
        missing = [name for name in encodings if name not in config]
        if missing:
            raise UserError(f"configuration {i} has no value for {', '.join(missing)} of the space; "
                            "analyse trials of this space only")
    X = pd.DataFrame({name: [e.encode(c[name]) for c in configs] for name, e in encodings.items()},
                     dtype=float)
    if not (X.nunique() > 1).any():
        raise UserError(f"all {len(X)} trials have the same configuration: fANOVA needs configurations "
                        "that differ")
    fcs = ConfigurationSpace()
    fcs.add([e.hp for e in encodings.values()])
    names = [p.name for p in fcs.values()]  # fanova's feature order
    index = {name: i for i, name in enumerate(names)}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fanova calls ConfigSpace's 0.x methods
        model = _fit(_fanova_class(), X[names], y, fcs, n_trees=n_trees, seed=seed,
                     min_samples_leaf=min_samples_leaf)
        # a tree that could not split predicts a constant (its variance is 0 up to rounding)
        if not (np.asarray(model.trees_total_variance) > 1e-9 * np.var(y)).any():
            raise UserError(f"fANOVA's trees found no split in {len(y)} trials, so no variance to "
                            "attribute; run more trials (or lower min_samples_leaf)")
        pairs = []
        for a, b in itertools.combinations(range(len(names)), 2):
            stats = model.quantify_importance((a, b))[(a, b)]
            pairs.append((names[a], names[b], stats["individual importance"], stats["individual std"]))
        single = {i: model.quantify_importance((i,))[(i,)] for i in range(len(names))}
        marginals = {}
        for name, e in encodings.items():
            stats = np.array([model.marginal_mean_variance_for_values([index[name]], [x]) for x in e.grid])
            marginals[name] = Marginal(name, e.kind, e.values, stats[:, 0],
                                       np.sqrt(np.maximum(stats[:, 1], 0)))

    individual = pd.DataFrame(
        [(p.name, single[index[p.name]]["individual importance"], single[index[p.name]]["individual std"])
         for p in hps], columns=["hyperparameter", "importance", "std"])
    pairs = pd.DataFrame(pairs, columns=["first", "second", "importance", "std"])
    pairs = pairs.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    return ImportanceResult(individual, pairs, marginals, len(y))


def draw_marginal(ax, m: Marginal, ylabel: str) -> None:
    """One marginal on matplotlib axes: a curve with a band of one std across trees over a float
    (log axis for a log-scale one), points with error bars over choices."""
    if m.kind in ("linear", "log"):
        ax.plot(m.values, m.mean)
        ax.fill_between(m.values, m.mean - m.std, m.mean + m.std, alpha=0.3)
        if m.kind == "log":
            ax.set_xscale("log")
    else:
        positions = range(len(m.values))
        ax.errorbar(positions, m.mean, yerr=m.std, fmt="o", capsize=4)
        ax.set_xticks(list(positions), [str(v) for v in m.values])
    ax.set_xlabel(m.name)
    ax.set_ylabel(ylabel)


def plot_marginals(result: ImportanceResult, directory: str | Path, prefix: str = "marginal_",
                   ylabel: str = "predicted accuracy") -> list[Path]:
    """One PNG per hyperparameter (Fig. 3): a curve with a band of one std across trees over a
    float (log axis for a log-scale one), points with error bars over choices."""
    from matplotlib.figure import Figure  # no pyplot: renders with Agg, no global state

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for m in result.marginals.values():
        fig = Figure(figsize=(4.5, 3.2), layout="constrained")
        draw_marginal(fig.add_subplot(), m, ylabel)
        path = directory / f"{prefix}{m.name}.png"
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


def marginals_json(results: dict[str, ImportanceResult]) -> str:
    """Each label's marginals and trainings analysed, as JSON with exact floats: the importance
    stage logs it, and the report draws Fig. 3 from it rather than fitting fANOVA again."""
    return json.dumps({label: {"n_trials": r.n_trials, "marginals": [
        {"name": m.name, "kind": m.kind, "values": list(m.values), "mean": m.mean.tolist(), "std": m.std.tolist()}
        for m in r.marginals.values()]} for label, r in results.items()}, indent=1) + "\n"


def read_marginals(text: str) -> dict[str, tuple[int, list[Marginal]]]:
    """marginals_json read back: label -> (trainings analysed, marginals)."""
    return {label: (entry["n_trials"], [Marginal(m["name"], m["kind"], m["values"], np.array(m["mean"], dtype=float),
                                                 np.array(m["std"], dtype=float)) for m in entry["marginals"]])
            for label, entry in json.loads(text).items()}
