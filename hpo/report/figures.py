"""The report's figures (matplotlib, no pyplot: Agg, no global state), each saved as PNG and SVG.
SVGs carry no date and fixed element ids, so the same data gives the same files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from hpo.report.importance import draw_marginal
from hpo.report.repetitions import mean_band
from hpo.search import registry

if TYPE_CHECKING:
    from hpo.report.importance import Marginal
    from hpo.report.queries import RunData

FORMATS = ("png", "svg")


def _color(method: str, index: int) -> str:
    """The registry's colour of the method; one by position for a method it does not know."""
    entry = registry.registry().get(method)
    return entry.colour if entry else f"C{index % 10}"




def save(fig: Figure, base: Path) -> list[Path]:
    """`base`.png and `base`.svg."""
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "hpo-report", "svg.fonttype": "none"}):
        for ext in FORMATS:
            path = base.with_name(f"{base.name}.{ext}")
            metadata = {"Date": None} if ext == "svg" else {"Software": None}
            fig.savefig(path, dpi=100, metadata=metadata)
            paths.append(path)
    return paths


def anytime_figure(frame: pd.DataFrame, dataset: str, budget: float | None = None) -> Figure:
    """Best validation accuracy so far against the epochs charged so far, one line per method
    (the `anytime` frame of one dataset)."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for i, (method, part) in enumerate(frame.groupby("method", sort=False)):
        ax.plot(part["epochs charged"], part["best val_accuracy"], drawstyle="steps-post", linewidth=2,
                color=_color(method, i), label=registry.label(method))
    if budget and not math.isnan(budget):
        ax.axvline(budget, color="0.5", linestyle=":", linewidth=1, label=f"budget ({budget:g} epochs)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _label(ax, "epochs charged", "best validation accuracy so far", f"{dataset}: best validation accuracy so far")
    return fig


def _label(ax, x: str, y: str, title: str | None = None) -> None:
    """Axis labels, title, a light grid and the legend to the right of the plot."""
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def importance_figure(table: pd.DataFrame) -> Figure:
    """fANOVA importances (Table 4): one group of bars per hyperparameter, one bar per dataset
    (and pooled), with one std over the trees."""
    labels = [c for c in table.columns if c != "hyperparameter" and not c.endswith(" std")]
    fig = Figure(figsize=(7.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(len(labels), 1)
    positions = range(len(table))
    for i, label in enumerate(labels):
        ax.bar([p + (i - (len(labels) - 1) / 2) * width for p in positions], table[label], width,
               yerr=table[f"{label} std"], capsize=3, label=label, color=f"C{i}")
    ax.set_xticks(list(positions), list(table["hyperparameter"]), rotation=20)
    ax.set_ylabel("fraction of variance (fANOVA)")
    ax.set_ylim(bottom=0)
    ax.set_title("Importance of each hyperparameter for validation accuracy")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    return fig


def marginals_figure(marginals: list[Marginal], label: str, n_trials: int) -> Figure:
    """Fig. 3 analogue: predicted validation accuracy against each hyperparameter, the others
    averaged out (fANOVA marginals of `n_trials` trainings), with one std over the trees."""
    cols = 3
    rows = math.ceil(len(marginals) / cols)
    fig = Figure(figsize=(4.0 * cols, 3.0 * rows), layout="constrained")
    for i, m in enumerate(marginals):
        ax = fig.add_subplot(rows, cols, i + 1)
        draw_marginal(ax, m, "predicted val accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Marginals ({label}, {n_trials} trainings)")
    return fig


def curves_figure(best: dict[str, tuple[RunData, int, float]], dataset: str) -> Figure:
    """Learning curves (accuracy and loss per epoch, training dashed, validation solid) of each
    method's best trial, given as (trial, epoch, validation accuracy) of the selected score, which
    a star marks."""
    fig = Figure(figsize=(10.0, 3.8), layout="constrained")
    acc, loss = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for i, (method, (trial, epoch, value)) in enumerate(best.items()):
        color, name = _color(method, i), registry.label(method)
        acc.plot([epoch], [value], "*", color=color, markersize=14, markeredgecolor="k", zorder=5)
        for ax, key in ((acc, "accuracy"), (loss, "loss")):
            for split, style in (("val", "-"), ("train", "--")):
                points = trial.histories.get(f"{split}_{key}", [])
                ax.plot([p.step for p in points], [p.value for p in points], style, color=color, marker=".",
                        label=f"{name}, trial {trial.tags.get('trial', '?')}" if split == "val" else None)
    for ax, key in ((acc, "accuracy"), (loss, "loss")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    acc.legend(fontsize="small")
    fig.suptitle(f"{dataset}: learning curves of each method's best trial (solid: validation, dashed: training)")
    return fig


def band_figure(curves: pd.DataFrame, dataset: str, x: str, label: str) -> Figure:
    """Replayed anytime curves of one dataset: per method, the best validation accuracy so far
    against `x` (a column of hpo.studies.replay's curves), averaged over the search seeds, with
    the 95 % interval of that mean (normal approximation) as a band."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    grid = np.linspace(0, curves[x].max(), 200)
    for i, (method, part) in enumerate(curves.groupby("method", sort=False)):
        mean, half = mean_band(part, x, grid)
        ax.plot(grid, mean, color=_color(method, i), linewidth=2, label=registry.label(method))
        ax.fill_between(grid, mean - half, mean + half, color=_color(method, i), alpha=0.2, linewidth=0)
    _label(ax, label, "best validation accuracy so far",
           f"{dataset}: replayed, mean over {curves['search seed'].nunique()} search seeds")
    return fig


def rank_figure(ranks: pd.DataFrame) -> Figure:
    """Mean rank of each method (rows) at each budget share (columns); 1 is the best."""
    fig = Figure(figsize=(5.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for i, (method, row) in enumerate(ranks.iterrows()):
        ax.plot([100 * s for s in row.index], row.to_numpy(), marker="o", linewidth=2, color=_color(method, i),
                label=registry.label(method))
    ax.invert_yaxis()
    _label(ax, "share of the budget (%)", "mean rank (1: best)")
    return fig
