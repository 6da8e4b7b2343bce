"""Drivers run the jobs the search loop submits (see hpo/search/loop.py for the protocol).

`InProcessDriver` trains one job at a time in this process, when the loop asks for results: the
sequence of jobs, seeds and so every number are those of a plain sequential loop.
"""

from __future__ import annotations

from collections import deque
from typing import Callable

from hpo import timing
from hpo.executor.worker import TrialSpec, train_job
from hpo.jobs import Job, Outcome


class InProcessDriver:
    slots = 1

    def __init__(self, launch: Callable[[Job, float], Outcome | TrialSpec],
                 work: Callable[[TrialSpec], Outcome] = train_job):
        """`launch` turns a job into a recorded Outcome or a spec to train (MethodTrials.launch)."""
        self.launch, self.work = launch, work
        self._queue: deque[tuple[Job, float]] = deque()

    def submit(self, job: Job, test_above: float) -> None:
        self._queue.append((job, test_above))

    def cancel(self) -> None:
        """Nothing trains here between the loop's calls: the job a `results` call trains is over or
        interrupted with it."""
        self._queue.clear()

    def results(self) -> list[tuple[Job, Outcome]]:
        job, test_above = self._queue.popleft()
        with timing.phase("tracking"):  # creating or reopening the trial's run, or reading it back
            launched = self.launch(job, test_above)
        return [(job, launched if isinstance(launched, Outcome) else self.work(launched))]
