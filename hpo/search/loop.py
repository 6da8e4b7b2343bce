"""The one search loop: ask the method for a job, charge the ledger, hand the job to a driver,
and as results come back refund unused epochs, tell the method and print a progress line.

A driver runs jobs somewhere (this process, a cluster, a recorded table) and never decides
anything: `slots` jobs may be in flight at once, `submit` hands one over, `results` blocks until
at least one submitted job has ended and returns the ended ones, `cancel` stops what is in flight
(the search stopped). The method is asked again
whenever a slot is free, and after every result while it answered WAIT.

Every hand-out and every result told is an event (hpo/search/events.py) appended to the
search's record; a search with a record replays its events first, in their order, with nothing
trained, then goes on live on the driver's slots, starting with the jobs the record handed out
but never told (in flight when it stopped).

A job's test accuracy is reported only if the job is its method's best (SearchResult.best), so
`submit` also passes the best validation accuracy told so far: a job that ends below it need
not score the test set (a job that ends equal to it may, if results come back in another order).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

from hpo import timing
from hpo.budget import Budget
from hpo.jobs import best_job
from hpo.search.base import DONE, WAIT, Job, Method, Outcome, Signal
from hpo.search.events import ASK, TELL, Event, MemoryRecord, Record, RecordMismatch


class Driver(Protocol):
    slots: int

    def submit(self, job: Job, test_above: float) -> None: ...

    def results(self) -> list[tuple[Job, Outcome]]: ...

    def cancel(self) -> None: ...


@dataclass
class SearchResult:
    method: str
    budget_used: int
    jobs: list[tuple[Job, Outcome]] = field(default_factory=list)  # in the order the method was told
    events: list[Event] = field(default_factory=list)  # every hand-out and every result told, in order
    handed_out: list[Job] = field(default_factory=list)
    wall_seconds: float = 0.0
    slots: int = 1  # jobs the driver ran at once

    @property
    def worker_seconds(self) -> float:
        """What the workers had: wall time times their number (training fills it at best)."""
        return self.wall_seconds * self.slots

    @property
    def trials(self) -> list[int]:
        return list(dict.fromkeys(job.trial for job, _ in self.jobs))

    @property
    def n_failed(self) -> int:
        return sum(outcome.error is not None for _, outcome in self.jobs)

    @property
    def recorded(self) -> int:
        """Jobs read back from the tracking store instead of trained."""
        return sum(outcome.recorded for _, outcome in self.jobs)

    @property
    def train_seconds(self) -> float:
        return sum(outcome.train_seconds for _, outcome in self.jobs)

    @property
    def best(self) -> tuple[Job, Outcome] | None:
        """The job whose validation accuracy was the highest; on a tie, the first told (jobs.best_job)."""
        best = best_job((math.nan if outcome.error else outcome.score, (job, outcome)) for job, outcome in self.jobs)
        return best[1] if best else None

    @property
    def best_val(self) -> float:
        return self.best[1].score if self.best else math.nan

    @property
    def best_test(self) -> float:
        return self.best[1].test_accuracy if self.best else math.nan

    @property
    def best_config(self) -> dict | None:
        return self.best[0].config if self.best else None


# A search stops asking once this many jobs in a row failed before their first epoch: such a job
# costs nothing, so a method whose every proposal fails at once (out of memory, a missing file)
# would never exhaust its budget.
MAX_EMPTY_FAILURES = 10


class MethodStalled(RuntimeError):
    """The method answered WAIT with no job in flight: nothing could ever wake it (a bug)."""


def _print(line: str) -> None:
    print(line, flush=True)


def run_search(method: Method, budget: Budget, driver: Driver, label: str = "",
               progress: Callable[[str], None] | None = _print, record: Record | None = None) -> SearchResult:
    """Run `method` to its end under `budget`; `label` starts each progress line. With a
    `record` (hpo/search/events.py), its events are replayed first, nothing trained, and every
    new event is appended to it."""
    if driver.slots < 1:
        raise ValueError(f"a driver needs at least one slot, got {driver.slots}")
    record = record or MemoryRecord()
    result, in_flight = SearchResult(method.name, 0), {}
    started, submitted_at = time.perf_counter(), {}
    done, empty_failures = False, 0

    def ask(event: Event | None = None) -> Job | Signal:
        with timing.phase("suggest"):
            job = method.next_job(budget.remaining)
        if event is not None and not (isinstance(job, Job) and Event.of(ASK, job) == event):
            got = job.value if isinstance(job, Signal) else Event.of(ASK, job).describe()
            raise RecordMismatch(f"{label or method.name}: event {len(result.events)} of the record "
                                 f"{event.describe()}, the method now answers {got}: it changed since; "
                                 "rerun with --restart")
        if isinstance(job, Job):
            if event is not None and not record.matches(job):
                raise RecordMismatch(f"trial {job.trial} of this study was recorded with another configuration "
                                     f"than {job.config}: the store cannot be replayed; rerun with --restart")
            budget.charge(job.trial, job.epochs)
            in_flight[job.trial] = job
            result.handed_out.append(job)
            result.events.append(Event.of(ASK, job))
            if event is None:
                record.append(result.events[-1])
        return job

    def tell(job: Job, outcome: Outcome, recorded: bool) -> None:
        nonlocal done, empty_failures
        empty_failures = empty_failures + 1 if outcome.error and outcome.epochs_trained == 0 else 0
        if empty_failures >= MAX_EMPTY_FAILURES:
            done = True  # its jobs fail before their first epoch: they cost nothing, so it would never stop
        del in_flight[job.trial]
        budget.refund(job.trial, job.epochs - outcome.epochs_trained)
        with timing.phase("suggest"):
            method.tell(job, outcome.score)
        result.jobs.append((job, outcome))
        result.events.append(Event.of(TELL, job))
        if not recorded:
            record.append(result.events[-1])
        if progress:
            seconds = time.perf_counter() - submitted_at.pop(job.trial, started)
            progress(_line(label, job, outcome, budget, result, seconds))

    for event in record.recorded():  # what happened before, in its order: nothing trained
        if event.kind == ASK:
            ask(event)
            continue
        job = in_flight.get(event.trial)
        outcome = record.outcome(job) if job is not None and Event.of(TELL, job) == event else None
        if outcome is None:
            raise RecordMismatch(f"{label or method.name}: event {len(result.events)} of the record "
                                 f"{event.describe()}, which the store does not hold: rerun with --restart")
        tell(job, outcome, recorded=True)

    backlog = deque(in_flight.values())  # handed out in the record, never told: they go first
    while True:
        while len(in_flight) - len(backlog) < driver.slots:
            if backlog:
                job = backlog.popleft()
            else:
                if done:
                    break
                job = ask()
                done = job is DONE
                if job in (WAIT, DONE):
                    break
            submitted_at[job.trial] = time.perf_counter()
            best = result.best_val
            driver.submit(job, -math.inf if math.isnan(best) else best)
        if not in_flight:
            if done:
                break
            raise MethodStalled(f"{method.name} answered WAIT with no job in flight")
        for job, outcome in driver.results():
            tell(job, outcome, recorded=False)
    result.budget_used, result.wall_seconds, result.slots = budget.spent, time.perf_counter() - started, driver.slots
    return result


def _line(label: str, job: Job, outcome: Outcome, budget: Budget, result: SearchResult, seconds: float) -> str:
    rung = f" rung {job.rung}" if job.rung is not None else ""
    status = f"FAILED ({outcome.error})" if outcome.error else f"val {outcome.score:.4f}"
    best = result.best
    took = "read back from the store" if outcome.recorded else f"{seconds:.1f} s"
    return (f"[{label}] trial {job.trial}{rung} epochs {job.start}->{job.stop}: {status} "
            f"| budget {budget.spent}/{budget.total} | best {best[1].score if best else math.nan:.4f} ({took})")
