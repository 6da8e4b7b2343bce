"""The driver's side of a method's trials: which jobs the tracking store already holds, and the
run each new job logs to. `launch(job)` answers the recorded Outcome of a job that a study
interrupted earlier had finished (or that diverged), else a `TrialSpec` for a worker to train,
after creating the trial's run (a new trial) or reopening it (a promotion, or a job cut short).
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


class MethodTrials:
    def __init__(self, parent_run_id: str, method: str, tags: dict[str, str], spec: partial,
                 seed: int, checkpoints: Path | None = None, name: str | None = None, score_test: bool = True):
        """`tags` go on every trial run besides `method` and `trial`; `spec` is TrialSpec with the
        data fields bound; trial t trains with seed + t; `checkpoints`: where resumable trials
        keep theirs (None: trials are never resumed); runs are named "`name` trial t · " and the
        key hyperparameters; `score_test`: False where no test accuracy is ever reported (Study I)."""
        self.parent, self.method, self.tags, self.spec = parent_run_id, method, tags, spec
        self.seed, self.checkpoints, self.name = seed, checkpoints, name or method
        self.score_test = score_test
        self.experiment_id = tracking.client().get_run(parent_run_id).info.experiment_id
        self.runs = tracking.trial_runs(self.experiment_id, parent_run_id, method)

    def launch(self, job: Job, test_above: float = -math.inf) -> Outcome | TrialSpec:
        """`test_above`: the worker scores the test set if the job's validation accuracy reaches it."""
        run = self.runs.get(job.trial)
        tags = {**self.tags, "method": self.method, "trial": str(job.trial)}
        if job.rung is not None:
            tags["rung"] = str(job.rung)
        if run is None:
            run_id = tracking.start_trial_run(self.experiment_id, self.parent,
                                              trial_run_name(self.name, job.trial, job.config), tags, job.config)
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
            tracking.reopen_trial_run(run, tags)
            run_id = run.run_id
        checkpoints = str(self.checkpoints / f"trial-{job.trial}") if self.checkpoints else None
        return self.spec(config=job.config, start=job.start, stop=job.stop, train_seed=self.seed + job.trial,
                         run_id=run_id, tracking_uri=tracking.tracking_uri(), checkpoints=checkpoints,
                         test_above=test_above if self.score_test else math.inf)
