"""Search spaces in ConfigSpace (Table 2A, Table 2B) and the exact grid, with converters to
hyperopt and scikit-optimize that keep log scales and categories.

Hyperparameter names are the trainer's: learning_rate, dropout, optimizer, fine_tuned_layers,
input_size, batch_size. A space fixes a hyperparameter by listing one value (a Constant).
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import numpy as np
from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    Constant,
    OrdinalHyperparameter,
    UniformFloatHyperparameter,
)
from hyperopt import hp
from skopt.space import Categorical, Real

if TYPE_CHECKING:  # annotations only: a profile's validation reads the method registry, which reads this
    from hpo.profiles import GridSpec, SpaceSpec

GRID_ORDER = ("learning_rate", "optimizer", "fine_tuned_layers", "dropout")


def _choices(name: str, values: list, ordered: bool):
    if len(values) == 1:
        return Constant(name, values[0])
    if ordered:
        return OrdinalHyperparameter(name, sorted(values))
    return CategoricalHyperparameter(name, list(values))


def config_space(spec: SpaceSpec, seed: int | None = None) -> ConfigurationSpace:
    cs = ConfigurationSpace(seed=seed)
    cs.add([
        UniformFloatHyperparameter("learning_rate", spec.learning_rate.low, spec.learning_rate.high,
                                   log=spec.learning_rate.log),
        UniformFloatHyperparameter("dropout", spec.dropout.low, spec.dropout.high, log=spec.dropout.log),
        _choices("optimizer", spec.optimizer, ordered=False),
        # Discrete numeric hyperparameters are ordinal: fANOVA may split between their values.
        _choices("fine_tuned_layers", spec.fine_tuned_layers, ordered=True),
        _choices("input_size", spec.input_size, ordered=True),
        _choices("batch_size", spec.batch_size, ordered=True),
    ])
    return cs


def native(value):
    """numpy scalars (what ConfigSpace and skopt return) -> plain Python values."""
    return value.item() if isinstance(value, np.generic) else value


def sample_configurations(cs: ConfigurationSpace, n: int, seed: int) -> list[dict]:
    """n configurations drawn at random from the space; the same seed gives the same list."""
    cs.seed(seed)
    samples = cs.sample_configuration(n) if n > 1 else [cs.sample_configuration()]
    return [{k: native(v) for k, v in dict(c).items()} for c in samples]


def sobol_configurations(cs: ConfigurationSpace, n: int, seed: int) -> list[dict]:
    """The first n points of a scrambled Sobol sequence over the space (2^m points, m the
    smallest that holds n): a space-filling design, evenly covering every hyperparameter and pair.
    Floats map through their (log) range, choices through equal shares of [0, 1)."""
    from scipy.stats import qmc

    searched = [p for p in cs.values() if not isinstance(p, Constant)]
    unit = qmc.Sobol(len(searched), scramble=True, seed=seed).random_base2(max(0, math.ceil(math.log2(max(n, 1)))))
    out = []
    for row in unit[:n]:
        config = constants(cs)
        for p, u in zip(searched, row, strict=True):
            if isinstance(p, UniformFloatHyperparameter):
                low, high = (math.log(p.lower), math.log(p.upper)) if p.log else (p.lower, p.upper)
                value = low + u * (high - low)
                config[p.name] = float(math.exp(value) if p.log else value)
            else:
                values = p.sequence if isinstance(p, OrdinalHyperparameter) else p.choices
                config[p.name] = native(values[min(int(u * len(values)), len(values) - 1)])
        out.append({name: config[name] for name in cs})
    return out


def to_hyperopt(cs: ConfigurationSpace) -> dict:
    """A hyperopt space (dict of expressions); constants stay plain values."""
    space = {}
    for p in cs.values():
        if isinstance(p, Constant):
            space[p.name] = native(p.value)
        elif isinstance(p, UniformFloatHyperparameter):
            space[p.name] = (hp.loguniform(p.name, math.log(p.lower), math.log(p.upper)) if p.log
                             else hp.uniform(p.name, p.lower, p.upper))
        elif isinstance(p, OrdinalHyperparameter):
            space[p.name] = hp.choice(p.name, [native(v) for v in p.sequence])
        elif isinstance(p, CategoricalHyperparameter):
            space[p.name] = hp.choice(p.name, [native(v) for v in p.choices])
        else:
            raise TypeError(f"no hyperopt equivalent for {type(p).__name__} {p.name}")
    return space


def to_skopt(cs: ConfigurationSpace) -> list:
    """scikit-optimize dimensions, in the space's order; a constant is a one-value Categorical."""
    dims = []
    for p in cs.values():
        if isinstance(p, Constant):
            dims.append(Categorical([native(p.value)], name=p.name))
        elif isinstance(p, UniformFloatHyperparameter):
            dims.append(Real(p.lower, p.upper, prior="log-uniform" if p.log else "uniform", name=p.name))
        elif isinstance(p, OrdinalHyperparameter):
            dims.append(Categorical([native(v) for v in p.sequence], name=p.name))
        elif isinstance(p, CategoricalHyperparameter):
            dims.append(Categorical([native(v) for v in p.choices], name=p.name))
        else:
            raise TypeError(f"no scikit-optimize equivalent for {type(p).__name__} {p.name}")
    return dims


def grid_dimensions(grid: GridSpec) -> list[Categorical]:
    """The grid as scikit-optimize dimensions, one Categorical per searched hyperparameter."""
    return [Categorical(list(getattr(grid, name)), name=name) for name in GRID_ORDER]


def grid_points(grid: GridSpec, fixed: dict | None = None) -> list[dict]:
    """Every point of the grid exactly once, in a fixed order (skopt's Grid sampler shuffles and
    truncates, so the product is enumerated here); `fixed` adds the constant hyperparameters."""
    dims = grid_dimensions(grid)
    return [{**(fixed or {}), **{d.name: native(v) for d, v in zip(dims, values, strict=True)}}
            for values in itertools.product(*(d.categories for d in dims))]


def constants(cs: ConfigurationSpace) -> dict:
    return {p.name: native(p.value) for p in cs.values() if isinstance(p, Constant)}
