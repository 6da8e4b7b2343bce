"""The driver seam: `ReadBackOrTrain` decides between reading a job back and training it, in
front of any trainer; the in-process engine trains in the order the loop asks."""

import math

from hpo.budget import Budget
from hpo.executor.drivers import IN_PROCESS, InProcessTrainer, ReadBackOrTrain
from hpo.jobs import Job, Outcome
from hpo.search.base import Fifo, ListSearcher
from hpo.search.loop import run_search


class Trainer:
    """A trainer that records what it is handed and answers at once."""
    slots = 2

    def __init__(self):
        self.submitted, self.cancelled, self._pending = [], False, []

    def submit(self, job, spec):
        self.submitted.append((job.trial, spec))
        self._pending.append((job, Outcome(0.5 + job.trial / 100, 0.4, job.epochs)))

    def results(self):
        ended, self._pending = self._pending, []
        return ended

    def cancel(self):
        self.cancelled = True


def _launch(recorded: set[int]):
    """Trials in `recorded` are held by the store; the others get a spec (here a plain string)."""
    def launch(job, test_above):
        if job.trial in recorded:
            return Outcome(0.9, 0.8, job.epochs, recorded=True)
        return f"spec of trial {job.trial}"
    return launch


def test_recorded_jobs_never_reach_the_trainer_and_come_back_first():
    trainer = Trainer()
    driver = ReadBackOrTrain(_launch({1}), trainer)
    assert driver.slots == 2
    driver.submit(Job(0, {}, 0, 3), -math.inf)
    driver.submit(Job(1, {}, 0, 3), -math.inf)
    assert trainer.submitted == [(0, "spec of trial 0")]
    [(job, outcome)] = driver.results()
    assert job.trial == 1 and outcome.recorded
    [(job, outcome)] = driver.results()
    assert job.trial == 0 and not outcome.recorded
    driver.cancel()
    assert trainer.cancelled


def test_a_search_through_the_seam_reads_back_what_the_store_holds_and_trains_the_rest():
    trainer = Trainer()
    configs = [{"x": i} for i in range(5)]
    driver = ReadBackOrTrain(_launch({0, 3}), trainer)
    result = run_search(Fifo("list", ListSearcher(configs), 5, 2), Budget(10), driver, progress=None)
    assert sorted(t for t, _ in trainer.submitted) == [1, 2, 4] and result.recorded == 2
    assert result.budget_used == 10 and sorted(result.trials) == [0, 1, 2, 3, 4]


def test_the_in_process_engine_trains_when_results_are_asked_for():
    trained = []
    driver = IN_PROCESS.driver(_launch(set()))
    driver.trainer = InProcessTrainer(work=lambda spec: trained.append(spec) or Outcome(0.7, 0.6, 1))
    driver.submit(Job(0, {}, 0, 1), -math.inf)
    assert trained == [] and driver.slots == 1
    [(job, outcome)] = driver.results()
    assert trained == ["spec of trial 0"] and outcome.score == 0.7
