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

from hpo.jobs import Job, Outcome

__all__ = ["DONE", "WAIT", "Fifo", "Job", "Method", "Outcome", "Searcher", "Signal", "ranking_score"]


class Signal(enum.Enum):
    WAIT = "wait"
    DONE = "done"


WAIT, DONE = Signal.WAIT, Signal.DONE


def ranking_score(score: float | None) -> float:
    """A failed trial (None or NaN) ranks below every real accuracy."""
    return -math.inf if score is None or math.isnan(score) else score


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
