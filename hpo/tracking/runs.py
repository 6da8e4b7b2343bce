"""Stage, child and study runs, on MLflow's active run: opening, reopening and ending them
(ending the runs a killed process left RUNNING), and the small wrappers that log to the active
run."""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hpo import store_outage
from hpo.errors import UserError, one_line
from hpo.mlflow_ui import DESCRIPTION_TAG, EXPERIMENT_KIND_TAG, MODEL_TRAINING
from hpo.tracking.processes import ABANDONED, PROCESS_TAG, process_alive, this_process
from hpo.tracking.provenance import STUDY_KEY
from hpo.tracking.store import PROBE_ENVIRONMENT, _search, _search_with, client, configure, environment, tracking_uri

MAX_TAG_LENGTH = 8000  # characters of a tag value MLflow stores


@contextmanager
def _finishing(run):
    """End `run` FINISHED, or FAILED / KILLED with the reason as tag `error`, whatever happens;
    except where the server stopped answering: then it cannot be told, and the rerun ends it."""
    try:
        yield run
    except store_outage.TrackingOutage:
        _forget_active_run()
        raise
    except KeyboardInterrupt:
        mlflow.set_tag("error", "interrupted")
        mlflow.end_run("KILLED")
        raise
    except BaseException as e:
        if store_outage.is_outage(e):
            _forget_active_run()
            raise store_outage.outage_error() from e
        mlflow.set_tag("error", one_line(f"{type(e).__name__}: {e}", 4000))
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def _forget_active_run() -> None:
    """After an outage: end the active run KILLED if the server answers at once (the rerun
    continues it); either way MLflow forgets it, instead of waiting for the server again at exit."""
    try:
        with environment(**PROBE_ENVIRONMENT):
            mlflow.end_run("KILLED")  # forgets the run before it calls the server
    except Exception:  # the server is away: the run stays RUNNING for the rerun to end
        pass


@contextmanager
def stage_run(stage: str, run_name: str, tags: dict[str, str]):
    """The run of one stage invocation. Under `mlflow run` it is the run MLflow created
    (MLFLOW_RUN_ID); otherwise a new run in the experiment named after the stage."""
    configure()
    with _finishing(_new_stage_run(stage, run_name)) as run:
        mlflow.set_tags({**tags, PROCESS_TAG: this_process()})
        yield run


def _new_stage_run(stage: str, run_name: str):
    try:
        if not os.environ.get("MLFLOW_RUN_ID"):
            mlflow.set_experiment(stage)
        run = mlflow.start_run(run_name=run_name)  # under `mlflow run`: the run of MLFLOW_RUN_ID
    except MlflowException as e:  # a deleted experiment, a run id that names no run
        raise UserError(f"cannot open the {stage} run in {tracking_uri()} ({one_line(e, 300)})") from None
    _mark_model_training(run.info.experiment_id)
    return run


def _mark_model_training(experiment_id: str) -> None:
    """Tag the experiment (ours, or the one `mlflow run` chose) as model training for the MLflow UI."""
    client = MlflowClient()
    if client.get_experiment(experiment_id).tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)


@contextmanager
def child_run(run_name: str, tags: dict[str, str], reopen: bool = False):
    """A run nested under the active one (a method under a study, a final training under a
    variant); with `reopen`, the earlier child with the same tags is reopened if there is one
    (a study that continues)."""
    earlier = _child_with(active_run_id(), tags) if reopen else None
    run = mlflow.start_run(run_id=earlier, nested=True) if earlier else mlflow.start_run(run_name=run_name, nested=True)
    if earlier:
        _clear_error(MlflowClient(), earlier)
    with _finishing(run):
        mlflow.set_tags({**tags, PROCESS_TAG: this_process()})
        yield run


def _child_with(parent_id: str, tags: dict[str, str]) -> str | None:
    """The oldest run nested under `parent_id` that has all of `tags`."""
    client = MlflowClient()
    where = " and ".join([f"tags.mlflow.parentRunId = '{parent_id}'"] + [f"tags.{k} = '{v}'" for k, v in tags.items()])
    runs = client.search_runs([client.get_run(parent_id).info.experiment_id], where,
                              order_by=["attributes.start_time ASC"], max_results=1)
    return runs[0].info.run_id if runs else None

def _runs_of_study(key: str, extra: str = "") -> list:
    """The runs of a study's tree (in any experiment: `mlflow run` may have put it anywhere), newest first."""
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    return _search(experiments, f"tags.{STUDY_KEY} = '{key}'{extra}")


def _clear_error(client: MlflowClient, run_id: str) -> None:
    """A reopened run starts again without the error tag its interruption left."""
    if "error" in client.get_run(run_id).data.tags:
        client.delete_tag(run_id, "error")


def end_abandoned_runs(key: str) -> int:
    """End KILLED the runs of a study that a killed process left RUNNING (a SIGKILL or a lost
    machine runs no handler); they are reopened if the study trains them again. A run whose
    process still runs on this machine means the study is running now: refused."""
    client, runs = MlflowClient(), _runs_of_study(key, " and attributes.status = 'RUNNING'")
    for run in runs:
        owner = run.data.tags.get(PROCESS_TAG, "")
        if owner != this_process() and process_alive(owner):
            raise UserError(f"this study is running now, in process {owner} (run {run.info.run_id}): wait for it "
                            "to end, or stop that process")
    for run in runs:
        client.set_tag(run.info.run_id, "error", ABANDONED)
        client.set_terminated(run.info.run_id, "KILLED")
    return len(runs)


def runs_of_dead_processes(uri: str | None = None) -> list:
    """The RUNNING runs (of any study or stage) whose process has ended on this machine; read
    only: the stage that made them ends them KILLED when it runs again (`end_abandoned_runs`)."""
    client = MlflowClient(uri or tracking_uri())
    experiments = [e.experiment_id for e in client.search_experiments()]
    host = socket.gethostname().replace("'", "")
    running = _search_with(client, experiments, f"attributes.status = 'RUNNING' and tags.{PROCESS_TAG} LIKE '{host}:%'")
    return [r for r in running if process_alive(r.data.tags[PROCESS_TAG]) is False]


@contextmanager
def study_run(stage: str, run_name: str, tags: dict[str, str], key: str, restart: bool = False):
    """The run of one study. The study's earlier run (same key, newest) is reopened and
    continues, unless `restart`; otherwise a new run as `stage_run` makes it. Under `mlflow run`,
    the run MLflow made for this invocation is then tagged `continues_study` and left empty."""
    configure()
    end_abandoned_runs(key)
    earlier = None if restart else next(iter(_runs_of_study(key, f" and tags.stage = '{stage}'")), None)
    if earlier is None:
        run = _new_stage_run(stage, run_name)
    else:
        entry_point_run = os.environ.pop("MLFLOW_RUN_ID", None)
        if entry_point_run:
            MlflowClient().set_tag(entry_point_run, "continues_study", earlier.info.run_id)
            _mark_model_training(MlflowClient().get_run(entry_point_run).info.experiment_id)
        mlflow.set_experiment(experiment_id=earlier.info.experiment_id)
        run = mlflow.start_run(run_id=earlier.info.run_id)
        _mark_model_training(earlier.info.experiment_id)
        _clear_error(MlflowClient(), earlier.info.run_id)
        print(f"continuing the {stage} study run {earlier.info.run_id} ({earlier.info.status}): the jobs it "
              f"recorded are read back, the rest trained (--restart trains everything)", flush=True)
    with _finishing(run):
        resumptions = int(earlier.data.tags.get("resumptions", "0")) + 1 if earlier else 0
        mlflow.set_tags({**tags, STUDY_KEY: key, "resumptions": str(resumptions), PROCESS_TAG: this_process()})
        yield run


def _same_value(old: str, new: str) -> bool:
    if old == new:
        return True
    try:
        return float(old) == float(new)
    except ValueError:
        return False


def set_run_tags(run_id: str, tags: dict[str, str]) -> None:
    """Tags of a run given by id, in one call."""
    from mlflow.entities import RunTag

    client().log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    store_outage.answered()


def log_params(params: dict) -> None:
    """Log parameters; `mlflow run` has already logged its -P values, which must agree."""
    run_id = mlflow.active_run().info.run_id
    existing = MlflowClient().get_run(run_id).data.params
    fresh = {}
    for key, value in params.items():
        value = str(value)
        if key not in existing:
            fresh[key] = value
        elif not _same_value(existing[key], value):
            raise UserError(f"parameter {key} is {existing[key]!r} in this run but the stage resolved it to {value!r}")
    if fresh:
        mlflow.log_params(fresh)


def log_epoch(metrics: dict[str, float], epoch: int) -> None:
    mlflow.log_metrics(metrics, step=epoch)


def set_tags(tags: dict[str, str]) -> None:
    mlflow.set_tags(tags)


def active_run_id() -> str:
    return mlflow.active_run().info.run_id


def log_metrics(metrics: dict[str, float]) -> None:
    mlflow.log_metrics(metrics)


def log_text(text: str, artifact_file: str) -> None:
    mlflow.log_text(text, artifact_file)


def log_dict(data: dict, artifact_file: str) -> None:
    mlflow.log_dict(data, artifact_file)


def log_inputs(inputs: list) -> None:
    """Dataset inputs (mlflow.entities.DatasetInput) of the active run; MLflow keeps one of each."""
    MlflowClient().log_inputs(active_run_id(), datasets=inputs)


def set_description(markdown: str) -> None:
    """The active run's description, which the MLflow UI shows on the run's page (cut to the
    longest tag MLflow keeps; the run's artifacts hold the whole tables)."""
    if len(markdown) > MAX_TAG_LENGTH:
        markdown = markdown[:MAX_TAG_LENGTH - 100] + "\n\n(cut here: the run's artifacts hold the whole tables)\n"
    mlflow.set_tag(DESCRIPTION_TAG, markdown)


def log_artifacts(folder: Path, artifact_path: str) -> None:
    mlflow.log_artifacts(str(folder), artifact_path)


def log_artifact(file: Path) -> None:
    mlflow.log_artifact(str(file))


def last_study_record() -> dict:
    """The study run this process just finished (the last run it ended): id, stage, profile,
    seed, study and data checksum; what a DVC stage keeps as its output."""
    run = mlflow.last_active_run()
    if run is None:
        raise UserError("no study run was recorded in this process")
    tags = run.data.tags
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "status": run.info.status,
            **{key: tags.get(key, "") for key in ("stage", "study", "profile", "seed", "data_checksum")}}
