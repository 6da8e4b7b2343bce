"""Drivers run the jobs the search loop submits (hpo/search/loop.py has the protocol); engines
make them. The engine (this process, or the workers of a Dask cluster, hpo/executor/cluster.py)
is chosen on the command line and handed down to every search of the stage.

Every training driver is `ReadBackOrTrain` in front of a trainer: a job the tracking store
already holds comes back as its recorded Outcome, nothing trained; any other becomes a
TrialSpec (MethodTrials.launch) that the trainer runs. A new engine (Ray, say) is one module
with a `Trainer` and an `Engine`.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Protocol

from hpo import timing
from hpo.executor.worker import TrialSpec, train_job
from hpo.jobs import Job, Outcome

Launch = Callable[[Job, float], "Outcome | TrialSpec"]  # MethodTrials.launch


class Trainer(Protocol):
    """Runs TrialSpecs: `slots` at once; `results` blocks until one has ended; `cancel` stops
    what is in flight (its runs end KILLED, to be trained again by a rerun)."""
    slots: int

    def submit(self, job: Job, spec: TrialSpec) -> None: ...

    def results(self) -> list[tuple[Job, Outcome]]: ...

    def cancel(self) -> None: ...


class Engine(Protocol):
    """Where a stage's jobs train; `driver(launch)` answers the driver of one search."""

    def driver(self, launch: Launch) -> ReadBackOrTrain: ...


class ReadBackOrTrain:
    """The one place that decides between reading a job back from the store and training it."""

    def __init__(self, launch: Launch, trainer: Trainer):
        self.launch, self.trainer, self.slots = launch, trainer, trainer.slots
        self._recorded: list[tuple[Job, Outcome]] = []

    def submit(self, job: Job, test_above: float) -> None:
        with timing.phase("tracking"):  # creating or reopening the trial's run, or reading it back
            launched = self.launch(job, test_above)
        if isinstance(launched, Outcome):
            self._recorded.append((job, launched))
        else:
            self.trainer.submit(job, launched)

    def results(self) -> list[tuple[Job, Outcome]]:
        if self._recorded:
            ended, self._recorded = self._recorded, []
            return ended
        return self.trainer.results()

    def cancel(self) -> None:
        self._recorded.clear()
        self.trainer.cancel()


class InProcessTrainer:
    """One job at a time in this process, trained when the loop asks for results: the sequence
    of jobs, seeds and so every number are those of a plain sequential loop."""
    slots = 1

    def __init__(self, work: Callable[[TrialSpec], Outcome] = train_job):
        self.work = work
        self._queue: deque[tuple[Job, TrialSpec]] = deque()

    def submit(self, job: Job, spec: TrialSpec) -> None:
        self._queue.append((job, spec))

    def results(self) -> list[tuple[Job, Outcome]]:
        job, spec = self._queue.popleft()
        return [(job, self.work(spec))]

    def cancel(self) -> None:
        """Nothing trains here between the loop's calls: the job a `results` call trains is over or
        interrupted with it."""
        self._queue.clear()


class InProcess:
    """The engine of one worker without a scheduler: the stage's own process trains."""

    def driver(self, launch: Launch) -> ReadBackOrTrain:
        return ReadBackOrTrain(launch, InProcessTrainer())


IN_PROCESS = InProcess()
