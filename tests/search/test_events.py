"""A search resumes from its record of events: killed at random events on k simulated workers
(what was in flight dropped), resumed on another k, it makes the recorded decisions first, then
goes on live. No Keras, no store: the record is kept in memory."""

import math
import random
from functools import cache

import pytest

from hpo.budget import Budget
from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Job, Outcome
from hpo.profiles import load_profile
from hpo.search.events import ASK, TELL, Event, MemoryRecord, RecordMismatch
from hpo.search.loop import run_search
from hpo.search.registry import entry, names

PROFILE = load_profile("embedded")
SMOKE = load_profile("smoke")  # 4 configurations: for the methods that fit a model per proposal (up to a second)
SLOW = {"smac", "optuna_gp"}  # and one case each
FIXED = {"input_size": 32, "batch_size": 32}
METHOD_NAMES = names()  # every registered method


def _draw(job: Job) -> random.Random:
    """A job's own random numbers: its result and duration do not depend on when it runs."""
    return random.Random(f"{job.trial}:{job.start}:{job.stop}")


def outcome(job: Job) -> Outcome:
    rng = _draw(job)
    if rng.random() < 0.15:
        return Outcome(math.nan, math.nan, rng.randint(0, job.epochs), error="Simulated: failed")
    return Outcome(round(rng.random(), 2), rng.random(), job.epochs)  # rounded: ties happen


def duration(job: Job) -> float:
    return _draw(job).uniform(0.1, 3.0) * job.epochs


class Workers(SimulatedDriver):
    """k simulated workers that remember which jobs they trained."""

    def __init__(self, slots: int):
        self.submitted: list[tuple[int, int]] = []
        self.trained: list[tuple[int, int]] = []
        super().__init__(self._train, slots, duration)

    def submit(self, job: Job, test_above: float = -math.inf) -> None:
        self.submitted.append((job.trial, job.stop))
        super().submit(job, test_above)

    def _train(self, job: Job) -> Outcome:
        self.trained.append((job.trial, job.stop))
        return outcome(job)


@cache
def uninterrupted(name: str, slots: int):
    """An uninterrupted search, once per test session (tests read it, none changes it)."""
    return search(name, slots)


def search(name: str, slots: int, record: MemoryRecord | None = None):
    profile = SMOKE if name in SLOW else PROFILE
    workers = Workers(slots)
    budget = Budget(profile.budget.epochs)
    result = run_search(entry(name).build(profile, 3, FIXED), budget, workers, progress=None, record=record)
    return result, budget, workers


def check_whole(result, budget) -> None:
    """Every job handed out was told once; the ledger holds; ASHA sent at most N_m trials to R."""
    asked = [(e.trial, e.stop) for e in result.events if e.kind == ASK]
    told = [(e.trial, e.stop) for e in result.events if e.kind == TELL]
    assert sorted(asked) == sorted(told) and len(set(told)) == len(told)
    assert [(j.trial, j.stop) for j, _ in result.jobs] == told
    assert budget.spent == sum(o.epochs_trained for _, o in result.jobs) <= budget.total
    if result.method == "asha":
        top = max(j.stop for j in result.handed_out)
        assert len({j.trial for j, o in result.jobs if j.stop == top and not math.isnan(o.score)}) <= \
            PROFILE.asha.max_trials_at_R


def kill(result, n: int) -> MemoryRecord:
    return MemoryRecord.cut(result.events, result.handed_out, result.jobs, n)


KS = [(2, 3, 5), (5, 2, 1), (1, 2, 3)]


@pytest.mark.parametrize("name,ks", [(name, ks) for name in METHOD_NAMES for ks in KS[:1 if name in SLOW else None]])
def test_killed_twice_at_random_events_the_resumed_search_makes_the_recorded_decisions(name, ks):
    rng = random.Random(f"{name}{ks}")
    first, second, third = ks
    live, budget, _ = uninterrupted(name, first)
    check_whole(live, budget)
    n = rng.randrange(len(live.events) + 1)
    record = kill(live, n)
    resumed, budget, workers = search(name, second, record)
    assert resumed.events[:n] == live.events[:n]  # the decisions up to the kill are the recorded ones
    assert resumed.handed_out[:len(record.jobs)] == live.handed_out[:len(record.jobs)]  # configurations too
    assert not set(workers.trained) & set(record.outcomes)  # no told job trained again
    check_whole(resumed, budget)

    m = rng.randrange(n, len(resumed.events) + 1)
    again = kill(resumed, m)
    last, budget, workers = search(name, third, again)
    assert last.events[:m] == resumed.events[:m]
    assert not set(workers.trained) & set(again.outcomes)
    check_whole(last, budget)


@pytest.mark.parametrize("name,first,then", [(name, *k) for name in METHOD_NAMES
                                             for k in [(2, 1), (5, 3)][:1 if name in SLOW else None]])
def test_a_finished_search_replays_whole_with_nothing_trained_and_the_same_best(name, first, then):
    live, _, _ = uninterrupted(name, first)
    replayed, budget, workers = search(name, then, kill(live, len(live.events)))
    assert workers.trained == [] and replayed.events == live.events
    assert replayed.jobs and all(o.recorded for _, o in replayed.jobs)
    assert replayed.best[0] == live.best[0] and replayed.budget_used == live.budget_used == budget.spent


def test_the_jobs_in_flight_at_the_kill_train_first_then_the_search_goes_on_live():
    live, _, _ = search("asha", 5)
    asks = [i for i, e in enumerate(live.events) if e.kind == ASK]
    n = asks[12] + 1  # a kill right after the 13th hand-out: several jobs in flight
    record = kill(live, n)
    in_flight = [(e.trial, e.stop) for e in record.events if e.kind == ASK and (e.trial, e.stop) not in record.outcomes]
    assert len(in_flight) > 1
    _, _, workers = search("asha", 2, record)
    assert workers.submitted[:len(in_flight)] == in_flight  # in the order they were handed out
    assert len(workers.submitted) > len(in_flight)  # and then new jobs


def test_a_record_the_method_no_longer_makes_is_refused():
    live, _, _ = search("tpe", 2)
    other = entry("tpe").build(PROFILE, 4, FIXED)  # another seed: other configurations
    with pytest.raises(RecordMismatch, match="another configuration"):
        run_search(other, Budget(PROFILE.budget.epochs), Workers(2), progress=None, record=kill(live, 6))
    grid = kill(search("grid", 1)[0], 4)
    with pytest.raises(RecordMismatch, match="event 0 of the record handed out trial 0 epochs 0->25"):
        run_search(entry("grid").build(PROFILE, 3, FIXED), Budget(10), Workers(1), progress=None, record=grid)


def test_an_event_reads_back_from_its_text():
    for event in (Event(ASK, 3, 0, 1), Event(TELL, 12, 4, 16)):
        assert Event.parse(str(event)) == event
    with pytest.raises(ValueError):
        Event.parse("promote 1 2 3")
