"""Grid search: every point of the profile's grid (scikit-optimize dimensions), in a fixed order."""

from __future__ import annotations

from hpo.search.base import Fifo, Searcher
from hpo.space import grid_points


class GridSearcher(Searcher):
    def __init__(self, points: list[dict]):
        self.points = list(points)
        self.next = 0

    def suggest(self, trial: int) -> dict | None:
        if self.next >= len(self.points):
            return None
        self.next += 1
        return dict(self.points[self.next - 1])


def grid(profile, seed: int, fixed: dict) -> Fifo:
    points = grid_points(profile.space.grid, fixed)
    return Fifo("grid", GridSearcher(points), profile.budget.configurations, profile.budget.epochs_per_configuration)
