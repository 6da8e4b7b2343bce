"""What every search method has in common: it hands out jobs and hears back their scores.

A job trains one trial from epoch `start` to epoch `stop` (start > 0 resumes its checkpoint).
Searchers propose configurations; the method decides how long each trains; the caller pays
each job from the `Budget` before running it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    trial: int
    config: dict
    start: int
    stop: int
    rung: int | None = None  # ASHA's rung index; None for one-shot methods

    @property
    def epochs(self) -> int:
        return self.stop - self.start


def ranking_score(score: float | None) -> float:
    """A failed trial (None or NaN) ranks below every real accuracy."""
    return -math.inf if score is None or math.isnan(score) else score


class Method(ABC):
    name: str

    @abstractmethod
    def next_job(self, remaining: int) -> Job | None:
        """The next job, or None when the method is done or `remaining` epochs cannot pay for it."""

    @abstractmethod
    def report(self, job: Job, score: float | None) -> None:
        """The validation accuracy reached at job.stop; None or NaN if the trial failed."""


class Searcher(ABC):
    """Proposes configurations one at a time; may learn from the scores."""

    @abstractmethod
    def suggest(self) -> dict | None:
        """A new configuration, or None when there are no more (a finished grid)."""

    def observe(self, config: dict, score: float | None) -> None:  # noqa: B027  (most searchers ignore it)
        pass


class Fifo(Method):
    """Grid, random search and TPE: each configuration trains for the same number of epochs."""

    def __init__(self, name: str, searcher: Searcher, configurations: int, epochs_per_configuration: int):
        self.name, self.searcher = name, searcher
        self.configurations, self.epochs = configurations, epochs_per_configuration
        self.started = 0

    def next_job(self, remaining: int) -> Job | None:
        if self.started >= self.configurations or self.epochs > remaining:
            return None
        config = self.searcher.suggest()
        if config is None:
            return None
        self.started += 1
        return Job(self.started - 1, config, 0, self.epochs)

    def report(self, job: Job, score: float | None) -> None:
        self.searcher.observe(job.config, score)
