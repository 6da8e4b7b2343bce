"""Grid search: every point of the profile's grid (scikit-optimize dimensions), in a fixed order."""

from __future__ import annotations

from hpo.search.base import Fifo, ListSearcher
from hpo.space import grid_points


def grid(profile, seed: int, fixed: dict) -> Fifo:
    points = grid_points(profile.space.grid, fixed)
    return Fifo("grid", ListSearcher(points), profile.budget.configurations, profile.budget.epochs_per_configuration)
