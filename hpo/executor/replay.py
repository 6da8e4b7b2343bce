"""The replay driver: looks each job up in a recorded table (hpo/recorded.py) instead of
training it, on a simulated clock with `slots` simulated workers.

A job on design point p from epoch `start` to `stop` gives p's recorded validation and test
accuracy at epoch `stop` and takes the recorded seconds of epochs start+1..stop; a job that
reaches the last logged epoch of a failed trial (a diverged epoch is logged, then the trial
fails) fails there, charged the epochs it had. A worker
takes the next job as soon as it is free; results come back in the order of their simulated end
(submission order on a tie), so ASHA and TPE see them in the order N real workers would.
Resuming a promoted ASHA trial continues the same recorded curve, and every configuration has
one recorded training (one seed): the noise of training again with another seed is not replayed.
"""

from __future__ import annotations

import math
from typing import Callable

from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Job, Outcome
from hpo.recorded import Point


def replayed(point: Point, job: Job) -> Outcome:
    """What `job` gives on design point `point`, by its recorded curves."""
    seconds = point.curves["epoch_seconds"]
    usable = point.trained - (1 if point.error else 0)  # a failed trial's last logged epoch is where it failed
    if job.stop <= usable:
        return Outcome(point.curves["val_accuracy"][job.stop - 1], point.curves["test_accuracy"][job.stop - 1],
                       job.epochs, sum(seconds[job.start:job.stop]))
    trained = max(0, point.trained - job.start)
    why = point.error or f"its recorded curve ends at epoch {point.trained}"
    return Outcome(math.nan, math.nan, trained, sum(seconds[job.start:point.trained]),
                   error=f"design point {point.index} failed: {why}")


class ReplayDriver(SimulatedDriver):
    def __init__(self, lookup: Callable[[dict], Point], slots: int = 1):
        """`lookup` maps a configuration to its design point (recorded.Nearest)."""
        self.lookup = lookup
        self._outcomes: dict[tuple[int, int], Outcome] = {}  # (trial, start) -> its outcome, while in flight
        super().__init__(self._take, slots, self._look_up)

    def _look_up(self, job: Job) -> float:
        outcome = replayed(self.lookup(job.config), job)
        self._outcomes[job.trial, job.start] = outcome
        return outcome.train_seconds

    def _take(self, job: Job) -> Outcome:
        return self._outcomes.pop((job.trial, job.start))
