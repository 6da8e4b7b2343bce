"""What every search method has in common: it hands out jobs and hears back their results.

A job trains one trial from epoch `start` to epoch `stop` (start > 0 resumes its checkpoint).
Searchers propose configurations; the method decides how long each trains. The protocol is
asynchronous: `next_job` answers a job (which the method from then on counts as in flight), WAIT
(jobs are in flight and none can start until one of them reports) or DONE (no more jobs; those
in flight still report); `tell` hands back the result of a job, keyed by its trial id. The loop
(hpo/search/loop.py) pays each job from the `Budget` before it runs.

A method is deterministic given its seed, the budget it is asked with and the order of its
`next_job` and `tell` calls, and answering WAIT or DONE changes nothing in it (DONE is final): a
rerun replays the recorded hand-outs and results (hpo/search/events.py) and gets the same jobs.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hpo.jobs import Job, Outcome

__all__ = ["DONE", "WAIT", "Fifo", "FifoSettings", "Job", "ListSearcher", "Method", "MethodSettings", "Outcome",
           "Searcher", "Signal", "ranking_score"]


class Signal(enum.Enum):
    WAIT = "wait"
    DONE = "done"


WAIT, DONE = Signal.WAIT, Signal.DONE


def ranking_score(score: float | None) -> float:
    """A failed trial (None or NaN) ranks below every real accuracy."""
    return -math.inf if score is None or math.isnan(score) else score


class MethodSettings(BaseModel):
    """A method's own section of a profile, `methods: {name: {...}}`: each method validates its
    own keys; a key left out takes its default (often a value of the profile's budget or asha)."""
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @classmethod
    def of(cls, profile, name: str):
        section = profile.methods.get(name)
        return cls.model_validate(section if isinstance(section, dict) else {})


class Method(ABC):
    name: str

    @abstractmethod
    def next_job(self, remaining: int) -> Job | Signal:
        """A job that `remaining` epochs can pay for, WAIT or DONE (see the module's docstring)."""

    @abstractmethod
    def tell(self, job: Job, score: float | None) -> None:
        """The validation accuracy `job` reached at job.stop; None or NaN if the trial failed."""


class Searcher(ABC):
    """Proposes configurations, one per trial id; may learn from the scores."""

    @abstractmethod
    def suggest(self, trial: int) -> dict | None:
        """The configuration of a new trial, or None when there are no more (a finished grid)."""

    def observe(self, trial: int, score: float | None, epochs: int) -> None:  # noqa: B027  (most ignore it)
        """The validation accuracy `trial` reached after `epochs` epochs (None or NaN: it failed)."""


class FifoSettings(MethodSettings):
    """A method that trains each configuration the same number of epochs; left out, as grid,
    random and TPE do: the profile's budget.configurations, budget.epochs_per_configuration and
    budget.tpe_startup (random configurations before a model proposes)."""
    configurations: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    epochs_per_configuration: Annotated[int, Field(ge=1, le=100_000)] | None = None
    startup: Annotated[int, Field(ge=0, le=1_000_000)] | None = None

    def resolved(self, profile) -> tuple[int, int, int]:
        """(configurations, epochs per configuration, start-up configurations)."""
        b = profile.budget
        return (self.configurations or b.configurations, self.epochs_per_configuration or b.epochs_per_configuration,
                b.tpe_startup if self.startup is None else self.startup)


class ListSearcher(Searcher):
    """Given configurations, in their order: the grid, Study I's random draws, a recorded design."""

    def __init__(self, points: list[dict]):
        self.points = list(points)
        self.next = 0

    def suggest(self, trial: int) -> dict | None:
        if self.next >= len(self.points):
            return None
        self.next += 1
        return dict(self.points[self.next - 1])


class Fifo(Method):
    """Grid, random search and TPE: each configuration trains for the same number of epochs."""

    def __init__(self, name: str, searcher: Searcher, configurations: int, epochs_per_configuration: int):
        self.name, self.searcher = name, searcher
        self.configurations, self.epochs = configurations, epochs_per_configuration
        self.started = 0
        self.running: set[int] = set()

    def next_job(self, remaining: int) -> Job | Signal:
        if self.started >= self.configurations or self.epochs > remaining:
            return WAIT if self.running else DONE  # a failed job in flight may refund epochs
        config = self.searcher.suggest(self.started)
        if config is None:
            return WAIT if self.running else DONE
        self.started += 1
        self.running.add(self.started - 1)
        return Job(self.started - 1, config, 0, self.epochs)

    def tell(self, job: Job, score: float | None) -> None:
        self.running.discard(job.trial)
        self.searcher.observe(job.trial, score, job.stop)
