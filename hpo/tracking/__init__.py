"""Everything the suite says to MLflow, in one place: stage and trial runs, parameters,
per-epoch metrics, provenance tags. Tracking URI: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db.

One job per module:
- store: the store's URI, its probe, a client of it, the epoch-log setting, searches of its runs
- provenance: the provenance tags of a stage's run, and the key that names a study
- processes: whether the process that owns a run still runs
- runs: stage, child and study runs on MLflow's active run, and the wrappers that log to it
- trial_record: the trial record, written and read by run id (its schema is said there)

Callers use the names below as `tracking.<name>`; modules of this package import each other
directly, never through this file.
"""

from hpo.errors import UserError
from hpo.tracking.processes import PROCESS_TAG, WORKER_TAG, _start_time, process_alive, this_process
from hpo.tracking.provenance import STUDY_KEY, provenance_tags, study_key
from hpo.tracking.runs import (
    MAX_TAG_LENGTH,
    active_run_id,
    child_run,
    end_abandoned_runs,
    last_study_record,
    log_artifact,
    log_artifacts,
    log_dict,
    log_epoch,
    log_inputs,
    log_metrics,
    log_params,
    log_text,
    runs_of_dead_processes,
    set_description,
    set_run_tags,
    set_tags,
    stage_run,
    study_run,
)
from hpo.tracking.store import (
    EPOCH_LOG_VARIABLE,
    MAX_EPOCH_LOG_S,
    PROBE_ENVIRONMENT,
    check_store,
    client,
    environment,
    epoch_log_seconds,
    sqlite_path,
    tracking_uri,
)
from hpo.tracking.trial_record import (
    TrialRun,
    close_ended_run,
    end_trial_run,
    log_epochs_to,
    log_trial_params,
    reopen_trial_run,
    start_trial_run,
    trial_runs,
)

__all__ = [
    # store
    "EPOCH_LOG_VARIABLE", "MAX_EPOCH_LOG_S", "PROBE_ENVIRONMENT", "check_store", "client", "environment",
    "epoch_log_seconds", "sqlite_path", "tracking_uri",
    # provenance
    "STUDY_KEY", "provenance_tags", "study_key",
    # processes
    "PROCESS_TAG", "WORKER_TAG", "_start_time", "process_alive", "this_process",
    # runs
    "MAX_TAG_LENGTH", "active_run_id", "child_run", "end_abandoned_runs", "last_study_record", "log_artifact",
    "log_artifacts", "log_dict", "log_epoch", "log_inputs", "log_metrics", "log_params", "log_text",
    "runs_of_dead_processes", "set_description", "set_run_tags", "set_tags", "stage_run", "study_run",
    # trial_record
    "TrialRun", "close_ended_run", "end_trial_run", "log_epochs_to", "log_trial_params", "reopen_trial_run",
    "start_trial_run", "trial_runs",
    # hpo.errors, for callers that catch it as tracking.UserError
    "UserError",
]
