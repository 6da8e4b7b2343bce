"""The trial record: one MLflow run per trial of a method, nested under the method's run, written
and read by run id through a client, not through MLflow's active run (the process that trains a
job may not be the one that created the run). A trial trains as jobs start -> stop over its
epochs (a promotion continues it); what the code writes, and what a rerun reads back:

- params: the trial's configuration, each value a string (`log_trial_params`); a rerun compares
  it with the configuration it asks for, numbers by value (`TrialRun.same_config`).
- tags: `mlflow.parentRunId` (the method's run), `method`, `trial` (its id: a run whose `trial` is
  not digits is not read back), `rung` where the method has rungs, the study's (`study`,
  `study_key`, `dataset`); `process` (the process that created or last reopened it,
  host:pid:start time), `worker` (the process that trains its job, with the job's first write);
  `event.N`, event N of the search's record (hpo/executor/trials.py), with the run's creation or
  reopening; `error`, a failure's reason (`interrupted` for an interrupt, `TrainingDiverged: ...`
  for a job that diverged, the exception otherwise; a rerun tags a run a killed process left
  RUNNING with tracking.processes.ABANDONED), deleted when the run is reopened or closed FINISHED.
- metrics at step = epoch of the trial (1, 2, ... over all its jobs), each with the time its epoch
  ended: `train_loss`, `train_accuracy`, `val_loss`, `val_accuracy`, and `test_accuracy` and
  `epoch_seconds` where the test set was scored after each epoch. A running job writes its epochs
  in batches (tracking.store.epoch_log_seconds) and the rest with its end. An epoch logged twice
  (a job cut short, then trained again) is read back by its last value (the latest timestamp).
- A job's end, in one write: `epochs` at step = stop (value stop) means the job ended; with it
  its last epoch's metrics and, where its test set was scored, `test_accuracy` at step = stop.
  A job is read back as recorded where `epochs` and `val_accuracy` are logged at step = stop; a
  FAILED run whose error is `TrainingDiverged` records the job it diverged in (charged the epochs
  it logged), and with `failed_too` any failed job is read back as failed.
- status: the one record of a trial's state: RUNNING while a job trains, then FINISHED, FAILED or
  KILLED, written after the job's end (`end_trial_run`). A run whose last job's end is logged but
  whose state is not (its process stopped between the two writes) is closed FINISHED when read
  back (`close_ended_run`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from hpo import store_outage
from hpo.errors import one_line
from hpo.jobs import Outcome
from hpo.tracking.processes import PROCESS_TAG, this_process
from hpo.tracking.runs import _same_value
from hpo.tracking.store import _search

# Trial runs are written by run id through a client, not through MLflow's process-global active
# run: the worker that trains a job may live in another process or on another machine.

def start_trial_run(experiment_id: str, parent_run_id: str, run_name: str, tags: dict[str, str],
                    params: dict) -> str:
    """A new run nested under `parent_run_id`, with `params`; its id."""
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = MlflowClient()
    run = client.create_run(experiment_id, tags={**tags, MLFLOW_PARENT_RUN_ID: parent_run_id,
                                                 PROCESS_TAG: this_process()}, run_name=run_name)
    log_trial_params(run.info.run_id, params, client)
    return run.info.run_id


def log_trial_params(run_id: str, params: dict, client: MlflowClient | None = None) -> dict[str, str]:
    """A trial run's configuration (also for a run whose process stopped between creating it and
    this); the parameters as the store holds them."""
    from mlflow.entities import Param

    recorded = {str(k): str(v) for k, v in params.items()}
    (client or MlflowClient()).log_batch(run_id, params=[Param(k, v) for k, v in recorded.items()])
    store_outage.answered()
    return recorded


def reopen_trial_run(run: TrialRun, tags: dict[str, str]) -> None:
    """Set a trial run RUNNING again (a promotion, or a job a killed process left unfinished)."""
    from mlflow.entities import RunTag

    client = MlflowClient()
    client.update_run(run.run_id, status="RUNNING")
    run.status = "RUNNING"
    if "error" in run.tags:
        client.delete_tag(run.run_id, "error")
        del run.tags["error"]
    client.log_batch(run.run_id, tags=[RunTag(k, v) for k, v in {**tags, PROCESS_TAG: this_process()}.items()])
    store_outage.answered()


def log_epochs_to(client: MlflowClient, run_id: str, epochs: list[tuple[int, dict[str, float], int]],
                  tags: dict[str, str] | None = None) -> None:
    """Each (epoch, metrics, when: ms since 1970) at step = epoch, and any tags, in one call (at
    most 1000 values)."""
    from mlflow.entities import Metric, RunTag

    client.log_batch(run_id, metrics=[Metric(k, v, when, epoch)
                                      for epoch, metrics, when in epochs for k, v in metrics.items()],
                     tags=[RunTag(k, v) for k, v in (tags or {}).items()])
    store_outage.answered()


def end_trial_run(client: MlflowClient, run_id: str, status: str, metrics: dict[str, float] | None = None,
                  step: int = 0, error: str | None = None, tags: dict[str, str] | None = None,
                  earlier: list[tuple[int, dict[str, float], int]] = ()) -> None:
    """A job's end: the epochs not logged yet (`earlier`, as log_epochs_to takes them), its
    closing metrics (step = the epoch it stopped at) and `tags`, then `status` as the run's state
    (the one record of a trial's state); a failure's reason as tag `error`."""
    log_epochs_to(client, run_id, [*earlier, (step, metrics or {}, int(time.time() * 1000))],
                  (tags or {}) | ({"error": one_line(error, 4000)} if error is not None else {}))
    client.set_terminated(run_id, status)


@dataclass
class TrialRun:
    """A trial run as the driver needs it to continue a study: which of its jobs are recorded.
    `val` and `test` (epoch -> value) and `ended` (the epochs where a job finished) are read from
    the store once, when first needed; a run this process created starts with them empty."""
    run_id: str
    params: dict[str, str]
    tags: dict[str, str]
    status: str  # the run's state: RUNNING, FINISHED, FAILED or KILLED
    val: dict[int, float] | None = None
    test: dict[int, float] | None = None
    ended: set[int] | None = None

    def same_config(self, config: dict) -> bool:
        return set(self.params) == {str(k) for k in config} and all(
            _same_value(self.params[str(k)], str(v)) for k, v in config.items())

    def recorded_job(self, start: int, stop: int, failed_too: bool = False) -> Outcome | None:
        """The outcome of its job start -> stop if the store holds it: the job finished (`epochs`
        was logged at step `stop`; its test accuracy too where it was scored) or diverged on the
        way, or with `failed_too` (a job whose failure its method was told) failed in any way,
        charged the epochs it logged; None otherwise. (Read once: jobs this process trains later
        come after the first job the store lacked.)"""
        if self.val is None:
            client = MlflowClient()
            self.val = {m.step: m.value for m in last_per_epoch(client.get_metric_history(self.run_id, "val_accuracy"))}
            self.test = {m.step: m.value for m in client.get_metric_history(self.run_id, "test_accuracy")}
            self.ended = {m.step for m in client.get_metric_history(self.run_id, "epochs")}
        if stop in self.ended and stop in self.val:
            return Outcome(self.val[stop], self.test.get(stop, math.nan), stop - start, recorded=True)
        error = self.tags.get("error", "")
        last = max(self.val, default=0)
        if self.status == "FAILED" and error.startswith("TrainingDiverged") and start < last <= stop:
            return Outcome(math.nan, math.nan, last - start, error=error, recorded=True)
        if self.status == "FAILED" and failed_too:
            return Outcome(math.nan, math.nan, sum(start < step <= stop for step in self.val),
                           error=error or "failed", recorded=True)
        return None


def close_ended_run(run: TrialRun, stop: int) -> None:
    """FINISHED for a trial run whose last job's end is recorded (`epochs` at its last epoch, read
    back by recorded_job) but whose state is not: its process stopped between the two writes of
    end_trial_run (killed, or the server went away), and a rerun marked it KILLED."""
    if run.status in ("RUNNING", "KILLED") and run.ended and stop in run.ended and stop == max(run.val, default=0):
        client = MlflowClient()
        if "error" in run.tags:
            client.delete_tag(run.run_id, "error")
            del run.tags["error"]
        client.set_terminated(run.run_id, "FINISHED")
        run.status = "FINISHED"


def trial_runs(experiment_id: str, parent_run_id: str, method: str) -> dict[int, TrialRun]:
    """The trial runs of `method` nested under `parent_run_id`, by trial id."""
    runs = _search([experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}' and tags.method = '{method}'")
    return {int(r.data.tags["trial"]): TrialRun(r.info.run_id, dict(r.data.params), dict(r.data.tags),
                                              r.info.status)
            for r in runs if r.data.tags.get("trial", "").isdigit()}


# --- reading the record: every reader (resume, the Dask driver, the report) goes through these ---

def last_per_epoch(points: list) -> list:
    """A per-epoch metric's points, one per epoch, oldest first: each epoch's last value (a job cut
    short and trained again logged its first epochs twice). `points`: MLflow metrics or anything
    with `timestamp`, `step` and `value`."""
    latest = {p.step: p for p in sorted(points, key=lambda p: (p.timestamp, p.step))}
    return sorted(latest.values(), key=lambda p: (p.timestamp, p.step))


def logged_epochs(client: MlflowClient, run_id: str, start: int, stop: int) -> int:
    """Epochs of start -> stop a job logged before it failed: they were trained."""
    steps = {m.step for m in client.get_metric_history(run_id, "val_accuracy")}
    return sum(start < step <= stop for step in steps)


def job_ends(val_points: list, end_points: list | None, finished: bool) -> list[tuple[int, int, float]]:
    """(timestamp, epoch, val_accuracy) at the end of each job a trial completed, from its
    `val_accuracy` points (one per epoch) and its `epochs` points (a job's end: the epoch it
    stopped at). A trial without `epochs` (recorded before they were logged): its last epoch,
    if it finished."""
    if end_points is None:
        last = max(val_points, key=lambda p: p.step, default=None)
        return [(last.timestamp, last.step, last.value)] if last is not None and finished else []
    val = {p.step: p.value for p in val_points}
    return [(p.timestamp, int(p.value), val[int(p.value)]) for p in end_points if int(p.value) in val]
