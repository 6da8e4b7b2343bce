"""The search loop and the asynchronous protocol, driven by simulated workers: no Keras, no
store, milliseconds. Every method, 1 to 8 jobs in flight, random durations, failures, refunds."""

import math
import random

import pytest

from hpo.budget import Budget
from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Job, Outcome
from hpo.profiles import load_profile
from hpo.search.asha import Asha
from hpo.search.base import DONE, WAIT, Method
from hpo.search.loop import MethodStalled, run_search
from hpo.search.registry import entry

PROFILE = load_profile("embedded")
FIXED = {"input_size": 32, "batch_size": 32}


class Watched(Method):
    """A method wrapped to record what it hands out and what it is told."""

    def __init__(self, method):
        self.method, self.name = method, method.name
        self.handed, self.told, self.in_flight, self.most_in_flight = [], [], set(), 0

    def next_job(self, remaining):
        job = self.method.next_job(remaining)
        if isinstance(job, Job):
            assert job.epochs <= remaining, "a job the budget cannot pay"
            assert job.trial not in self.in_flight, "two jobs of one trial in flight"
            self.handed.append(job)
            self.in_flight.add(job.trial)
            self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        return job

    def tell(self, job, score):
        self.in_flight.remove(job.trial)
        self.told.append(job)
        self.method.tell(job, score)


def simulated(seed, fail_rate=0.0):
    """Outcomes of random quality; a failing job stops after a random share of its epochs."""
    rng = random.Random(seed)

    def outcome(job):
        if rng.random() < fail_rate:
            return Outcome(math.nan, math.nan, rng.randint(0, job.epochs), error="Simulated: failed")
        return Outcome(rng.random(), rng.random(), job.epochs)
    return outcome


def durations(seed):
    rng = random.Random(seed + 1000)
    return lambda job: rng.uniform(0.1, 3.0) * job.epochs


@pytest.mark.parametrize("name", ["grid", "random", "tpe", "asha"])
@pytest.mark.parametrize("slots", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("fail_rate", [0.0, 0.3])
def test_k_jobs_in_flight_never_overspend_and_every_result_is_told_once(name, slots, fail_rate):
    method = Watched(entry(name).build(PROFILE, slots, FIXED))
    budget = Budget(PROFILE.budget.epochs)
    driver = SimulatedDriver(simulated(slots, fail_rate), slots, durations(slots))
    result = run_search(method, budget, driver, progress=None)
    assert sorted(method.handed, key=id) == sorted(method.told, key=id) and not method.in_flight
    assert len({(j.trial, j.start, j.stop) for j in method.told}) == len(method.told)
    assert 0 < budget.spent <= budget.total
    assert budget.spent == sum(o.epochs_trained for _, o in result.jobs)  # failed jobs' unused epochs refunded
    assert method.most_in_flight <= slots
    if slots > 1 and name != "asha":
        assert method.most_in_flight == slots  # one-shot methods fill every worker
    if name == "asha":
        top = method.method.rungs[-1]
        reached = {j.trial for j, o in result.jobs if j.stop == top and not math.isnan(o.score)}
        assert len(reached) <= PROFILE.asha.max_trials_at_R
        if fail_rate == 0:
            assert len(reached) == PROFILE.asha.max_trials_at_R


@pytest.mark.parametrize("slots", [1, 2, 4, 8])
@pytest.mark.parametrize("total", [5, 13, 22, 37])
def test_asha_budgets_that_end_mid_rung(slots, total):
    method = Watched(entry("asha").build(PROFILE, 3, FIXED))
    budget = Budget(total)
    result = run_search(method, budget, SimulatedDriver(simulated(total), slots, durations(total)), progress=None)
    assert budget.spent <= total and budget.spent == sum(j.epochs for j, _ in result.jobs)
    left = total - budget.spent
    assert left < method.method.rungs[-1]  # it stopped because no job it could hand out was affordable


def test_asha_never_sends_more_than_n_m_trials_towards_r_at_once():
    """Eight workers, all trials equally good: ASHA holds back rather than let a fifth reach R."""
    asha = Asha(entry("asha").build(PROFILE, 0, FIXED).searcher, r=1, R=4, eta=2, s=0, max_trials_at_R=2)
    heading = []

    def outcome(job):
        heading.append(sum(rung == asha.top for rung in asha.running.values()) + asha.reached_top)
        return Outcome(0.5, 0.5, job.epochs)

    run_search(asha, Budget(400), SimulatedDriver(outcome, 8, lambda job: 1.0), progress=None)
    assert asha.reached_top == 2 and max(heading) <= 2


def test_one_worker_gives_the_sequence_of_a_plain_sequential_loop():
    """The loop with one slot hands out exactly what asking and telling one job at a time does."""
    for name in ("grid", "random", "tpe", "asha"):
        outcome = simulated(0)
        plain, budget = entry(name).build(PROFILE, 5, FIXED), Budget(PROFILE.budget.epochs)
        expected = []
        while isinstance(job := plain.next_job(budget.remaining), Job):
            budget.charge(job.trial, job.epochs)
            plain.tell(job, outcome(job).score)
            expected.append(job)
        result = run_search(entry(name).build(PROFILE, 5, FIXED), Budget(PROFILE.budget.epochs),
                            SimulatedDriver(simulated(0)), progress=None)
        assert [j for j, _ in result.jobs] == expected


def test_a_failed_job_refunds_what_it_did_not_train_and_ranks_last():
    method = entry("grid").build(PROFILE, 0, FIXED)
    calls = iter(range(100))
    lines = []

    def outcome(job):
        if next(calls) == 1:
            return Outcome(math.nan, math.nan, 3, error="TrainingDiverged: loss became nan at epoch 3")
        return Outcome(0.5 + job.trial / 100, 0.4, job.epochs)

    budget = Budget(4 * 25)
    result = run_search(method, budget, SimulatedDriver(outcome), "digits grid", progress=lines.append)
    assert budget.spent == 25 + 3 + 25 + 25 and result.n_failed == 1
    assert [j.trial for j, _ in result.jobs] == [0, 1, 2, 3]  # the refund pays no fifth configuration (16 fit)
    assert result.best[0].trial == 3 and len(result.trials) == 4
    assert lines[1].startswith("[digits grid] trial 1 epochs 0->25: FAILED (TrainingDiverged")


def test_waiting_with_nothing_in_flight_is_a_bug_not_a_hang():
    class Stuck(Method):
        name = "stuck"

        def next_job(self, remaining):
            return WAIT

        def tell(self, job, score):
            pass

    with pytest.raises(MethodStalled):
        run_search(Stuck(), Budget(10), SimulatedDriver(simulated(0)), progress=None)


def test_a_driver_without_slots_is_refused_before_the_method_is_asked():
    # A Dask driver once counted 0 workers from a stale cache: that must not read as a stalled method
    method = Watched(entry("random").build(PROFILE, 0, FIXED))
    with pytest.raises(ValueError, match="at least one slot"):
        run_search(method, Budget(10), SimulatedDriver(simulated(0), slots=0), progress=None)
    assert method.handed == []


def test_done_with_jobs_in_flight_still_collects_them():
    class TwoThenDone(Method):
        name = "two"

        def __init__(self):
            self.handed, self.told = 0, []

        def next_job(self, remaining):
            if self.handed < 2:
                self.handed += 1
                return Job(self.handed - 1, {}, 0, 1)
            return DONE

        def tell(self, job, score):
            self.told.append(job.trial)

    method = TwoThenDone()
    run_search(method, Budget(10), SimulatedDriver(simulated(0), slots=4), progress=None)
    assert sorted(method.told) == [0, 1]


@pytest.mark.parametrize("slots", [2, 8])
def test_tpe_proposes_distinct_configurations_while_jobs_run(slots):
    """hyperopt's TPE counts a pending trial as a loss of +inf (a bad point), so it does not
    propose a running configuration again; the jobs in flight are told one by one."""
    method = Watched(entry("tpe").build(PROFILE, 7, FIXED))
    pending_at_handout = []

    class Watching(SimulatedDriver):
        def submit(self, job, test_above=-math.inf):
            pending_at_handout.append([j.config for _, _, j in self._running])
            super().submit(job, test_above)

    run_search(method, Budget(PROFILE.budget.epochs), Watching(simulated(slots), slots, durations(slots)),
               progress=None)
    configs = [tuple(sorted(job.config.items())) for job in method.handed]
    assert len(configs) == PROFILE.budget.configurations and len(set(configs)) == len(configs)
    assert max(len(p) for p in pending_at_handout) == slots - 1  # proposed with slots - 1 others running


@pytest.mark.parametrize("name", ["asha", "hyperband", "random"])
@pytest.mark.parametrize("slots", [1, 3])
def test_a_method_whose_jobs_all_fail_before_their_first_epoch_stops(name, slots):
    """Such jobs cost nothing: without the guard ASHA and Hyperband would propose for ever."""
    from hpo.search.loop import MAX_EMPTY_FAILURES
    from hpo.search.registry import entry

    def fail(job):
        return Outcome(math.nan, math.nan, 0, error="RuntimeError: out of memory")

    result = run_search(entry(name).build(PROFILE, 0, FIXED), Budget(PROFILE.budget.epochs),
                        SimulatedDriver(fail, slots), progress=None)
    assert MAX_EMPTY_FAILURES <= len(result.jobs) < MAX_EMPTY_FAILURES + slots and result.budget_used == 0
    assert result.n_failed == len(result.jobs)
