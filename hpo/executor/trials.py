"""The driver's side of a method's trials: which jobs the tracking store already holds, and the
run each new job logs to. `launch(job)` answers the recorded Outcome of a job that a study
interrupted earlier had finished (or that diverged), else a `TrialSpec` for a worker to train,
after creating the trial's run (a new trial) or reopening it (a promotion, or a job cut short).

`MethodTrials` is also the search's record of events (hpo/search/events.py) in the store: event
n is the tag `event.n` ("ask 3 0 1") of a trial run. New events are written with the next write
a job makes anyway, its run's creation or reopening (an ASK with its own job's), and those left
at the search's end on the method's run (`flush`): a crash loses only events after the last write.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

from hpo import tracking
from hpo.errors import UserError
from hpo.executor.worker import TrialSpec
from hpo.jobs import Job, Outcome
from hpo.mlflow_ui import trial_run_name
from hpo.search.events import Event

EVENT_TAG = "event."


class MethodTrials:
    def __init__(self, parent_run_id: str, method: str, tags: dict[str, str], spec: partial,
                 search_seed: int, checkpoints: Path | None = None, name: str | None = None, score_test: bool = True):
        """`tags` go on every trial run besides `method` and `trial`; `spec` is TrialSpec with the
        data fields bound; trial t trains with search_seed + t; `checkpoints`: where resumable trials
        keep theirs (None: trials are never resumed); runs are named "`name` trial t · " and the
        key hyperparameters; `score_test`: False where no test accuracy is ever reported (Study I)."""
        self.parent, self.method, self.tags, self.spec = parent_run_id, method, tags, spec
        self.search_seed, self.checkpoints, self.name = search_seed, checkpoints, name or method
        self.score_test = score_test
        parent = tracking.client().get_run(parent_run_id)
        self.experiment_id = parent.info.experiment_id
        self.runs = tracking.trial_runs(self.experiment_id, parent_run_id, method)
        self._events = recorded_events([parent.data.tags, *(run.tags for run in self.runs.values())])
        self._unwritten: dict[str, str] = {}  # tag -> event, for the next write
        self._next = len(self._events)

    # --- the record of events (hpo.search.events.Record) ---

    def recorded(self) -> list[Event]:
        return self._events

    def matches(self, job: Job) -> bool:
        run = self.runs.get(job.trial)
        return run is not None and (not run.params or run.same_config(job.config))  # none: written at launch

    def outcome(self, job: Job) -> Outcome | None:
        run = self.runs.get(job.trial)
        outcome = run.recorded_job(job.start, job.stop, failed_too=True) if run else None
        if outcome is not None and outcome.error is None:
            tracking.close_ended_run(run, job.stop)
        return outcome

    def append(self, event: Event) -> None:
        self._unwritten[f"{EVENT_TAG}{self._next}"] = str(event)
        self._next += 1

    def _take_events(self) -> dict[str, str]:
        events, self._unwritten = self._unwritten, {}
        return events

    def flush(self) -> None:
        """The events not written yet, on the method's run (the search ended)."""
        if self._unwritten:
            tracking.set_run_tags(self.parent, self._take_events())

    def launch(self, job: Job, test_above: float = -math.inf) -> Outcome | TrialSpec:
        """`test_above`: the worker scores the test set if the job's validation accuracy reaches it."""
        run = self.runs.get(job.trial)
        tags = {**self.tags, "method": self.method, "trial": str(job.trial)}
        if job.rung is not None:
            tags["rung"] = str(job.rung)
        if run is None:
            run_id = tracking.start_trial_run(self.experiment_id, self.parent,
                                              trial_run_name(self.name, job.trial, job.config),
                                              {**tags, **self._take_events()}, job.config)
            params = {k: str(v) for k, v in job.config.items()}
            self.runs[job.trial] = tracking.TrialRun(run_id, params, tags, "RUNNING",
                                                      {}, {}, set())  # nothing recorded yet
        else:
            if not run.params:  # created, but its process stopped before the parameters were written
                run.params = tracking.log_trial_params(run.run_id, job.config)
            if not run.same_config(job.config):
                raise UserError(f"trial {job.trial} of this study was recorded with another configuration "
                                f"({run.params}): the store cannot be replayed; rerun with --restart")
            outcome = run.recorded_job(job.start, job.stop)
            if outcome is not None:
                tracking.close_ended_run(run, job.stop)
                return outcome
            tracking.reopen_trial_run(run, {**tags, **self._take_events()})
            run_id = run.run_id
        checkpoints = str(self.checkpoints / f"trial-{job.trial}") if self.checkpoints else None
        return self.spec(config=job.config, start=job.start, stop=job.stop, train_seed=self.search_seed + job.trial,
                         run_id=run_id, tracking_uri=tracking.tracking_uri(), checkpoints=checkpoints,
                         test_above=test_above if self.score_test else math.inf)


def recorded_events(tags_of_runs: list[dict[str, str]]) -> list[Event]:
    """The events the tags of a search's runs hold, from the first up to the first one missing."""
    events = {}
    for tags in tags_of_runs:
        for key, value in tags.items():
            if key.startswith(EVENT_TAG) and key[len(EVENT_TAG):].isdigit():
                try:
                    events[int(key[len(EVENT_TAG):])] = Event.parse(value)
                except ValueError:
                    pass  # not ours: the record ends before it
    prefix = []
    while len(prefix) in events:
        prefix.append(events[len(prefix)])
    return prefix
