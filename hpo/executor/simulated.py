"""A driver on a simulated clock: `slots` workers, each job takes `duration(job)` simulated
seconds and gives `outcome(job)`. Results come back in the order the jobs would end, so the
search loop meets every interleaving that k workers produce, in milliseconds and without Keras."""

from __future__ import annotations

import heapq
import itertools
from typing import Callable

from hpo.jobs import Job, Outcome


class SimulatedDriver:
    def __init__(self, outcome: Callable[[Job], Outcome], slots: int = 1,
                 duration: Callable[[Job], float] = lambda job: float(job.epochs)):
        self.outcome, self.slots, self.duration = outcome, slots, duration
        self.clock = 0.0
        self.ended_at: list[float] = []  # the simulated end of each result, in the order returned
        self._running: list[tuple[float, int, Job]] = []  # (end time, submission order, job)
        self._order = itertools.count()

    def submit(self, job: Job, test_above: float = -float("inf")) -> None:
        if len(self._running) >= self.slots:
            raise RuntimeError(f"{self.slots} jobs already in flight")
        heapq.heappush(self._running, (self.clock + self.duration(job), next(self._order), job))

    def results(self) -> list[tuple[Job, Outcome]]:
        end, _, job = heapq.heappop(self._running)
        self.clock = end
        self.ended_at.append(end)
        return [(job, self.outcome(job))]

    def cancel(self) -> None:
        self._running.clear()
