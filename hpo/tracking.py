"""Everything the suite says to MLflow, in one place: stage and trial runs, parameters,
per-epoch metrics, provenance tags. Tracking URI: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hpo import settings, store_outage
from hpo.errors import UserError, one_line
from hpo.jobs import Outcome
from hpo.mlflow_ui import DESCRIPTION_TAG, EXPERIMENT_KIND_TAG, MODEL_TRAINING

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MAX_TAG_LENGTH = 8000  # characters of a tag value MLflow stores
VERSIONED_PACKAGES = ("tensorflow-cpu", "tensorflow", "torch", "jax", "keras", "mlflow", "numpy", "hyperopt",
                      "scikit-optimize", "ConfigSpace", "fanova", "scikit-learn", "pandas", "dvc")


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, otherwise the local sqlite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_path(uri: str) -> Path | None:
    """The file of a sqlite store's URI; None for other stores and in-memory sqlite."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


# While probing a store: MLflow retries a refused connection for minutes before its traceback.
PROBE_ENVIRONMENT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def check_store(uri: str | None = None) -> None:
    """Fail within seconds, with one line, where the tracking store cannot be reached or read."""
    uri = uri or tracking_uri()
    store_outage.wait_seconds()  # a malformed HPO_TRACKING_WAIT is said before any work too
    epoch_log_seconds()  # and HPO_EPOCH_LOG_SECONDS
    fix = "start its server or fix MLFLOW_TRACKING_URI (unset, it is sqlite:///mlflow.db)"
    path = sqlite_path(uri)
    if path is not None:  # MLflow retries a path it cannot open for two minutes
        if (path.exists() and not path.is_file()) or not path.parent.is_dir():
            raise UserError(f"cannot use the tracking store {uri}: {path} is not a file in an existing folder: {fix}")
    try:
        with environment(**PROBE_ENVIRONMENT):
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as e:  # MLflow, SQLAlchemy, requests and URI-scheme errors alike
        reason = "nothing answers there" if "NewConnectionError" in str(e) else one_line(f"{type(e).__name__}: {e}",
                                                                                          300)
        raise UserError(f"cannot use the tracking store {uri} ({reason}): {fix}") from None


@contextmanager
def environment(**keys: str):
    """Environment variables set for the duration of a block (MLflow reads its settings there)."""
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def client(uri: str | None = None) -> MlflowClient:
    """A client of the store at `uri` (by default tracking_uri()), for writing by run id; a server
    that stops answering is waited for (store_outage)."""
    uri = uri or tracking_uri()
    store_outage.install(uri)
    return MlflowClient(uri)


EPOCH_LOG_VARIABLE = "HPO_EPOCH_LOG_SECONDS"
DEFAULT_EPOCH_LOG_S, MAX_EPOCH_LOG_S = 10, 3600


def epoch_log_seconds() -> int:
    """HPO_EPOCH_LOG_SECONDS: a running job writes the epochs it trained at least this often, and
    the rest with its end (0: each epoch as it ends). One write per short job instead of one per
    epoch; an epoch of a long job still shows as it ends."""
    return settings.seconds(EPOCH_LOG_VARIABLE, DEFAULT_EPOCH_LOG_S, MAX_EPOCH_LOG_S)


def configure() -> str:
    """Point MLflow at tracking_uri(), waiting for a server that stops answering; return it."""
    uri = tracking_uri()
    store_outage.install(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def git_commit() -> tuple[str, bool]:
    """(commit of the suite's checkout, whether tracked files differ from it)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown", False
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip())
        return head.stdout.strip(), dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def keras_backend() -> str:
    """The backend Keras trains with (KERAS_BACKEND, else ~/.keras/keras.json, else tensorflow)."""
    import keras  # here, not at the top: reading the store needs no deep-learning framework
    return keras.backend.backend()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def provenance_tags(stage: str, profile, seed: int, data_checksum: str) -> dict[str, str]:
    commit, dirty = git_commit()
    tags = {"stage": stage, "profile": profile.name, "profile_file": profile.source_file,
            "profile_checksum": profile.checksum, "seed": str(seed), "git_commit": commit,
            "git_dirty": str(dirty).lower(), "data_checksum": data_checksum, "keras_backend": keras_backend()}
    tags.update({f"version.{name}": v for name, v in package_versions().items()})
    return tags


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


# A study is its stage, profile, seed, data and own parameters. Run it again and it continues in
# the same study run: every run of its tree carries the key, so a rerun finds them all.
STUDY_KEY = "study_key"


def study_key(stage: str, profile, seed: int, data_checksum: str, **parameters) -> str:
    identity = {"stage": stage, "profile_checksum": profile.checksum, "seed": seed, "data_checksum": data_checksum,
                **parameters}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _search(experiment_ids: list[str], where: str, order: str = "DESC") -> list:
    """Every run that matches, page after page, by start time."""
    return _search_with(MlflowClient(), experiment_ids, where, order)


def _search_with(client: MlflowClient, experiment_ids: list[str], where: str, order: str = "DESC") -> list:
    runs, token = [], None
    if not experiment_ids:
        return runs
    while True:
        page = client.search_runs(experiment_ids, where, max_results=1000,
                                  order_by=[f"attributes.start_time {order}"], page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _runs_of_study(key: str, extra: str = "") -> list:
    """The runs of a study's tree (in any experiment: `mlflow run` may have put it anywhere), newest first."""
    experiments = [e.experiment_id for e in MlflowClient().search_experiments()]
    return _search(experiments, f"tags.{STUDY_KEY} = '{key}'{extra}")


def _clear_error(client: MlflowClient, run_id: str) -> None:
    """A reopened run starts again without the error tag its interruption left."""
    if "error" in client.get_run(run_id).data.tags:
        client.delete_tag(run_id, "error")


# The process that has a run open, as host:pid:start time (the start time tells a pid the system
# gave to a new process from the one that opened the run).
PROCESS_TAG = "process"
WORKER_TAG = "worker"  # on a trial run: the process that trains its job (a Dask worker, or the stage itself)
ABANDONED = "interrupted: the process running it ended without closing it"


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` (Linux: clock ticks since boot), '' where unknowable, None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except FileNotFoundError:
        return None
    except (OSError, IndexError):
        return ""


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid()) or ''}"


def process_alive(tag: str) -> bool | None:
    """Whether the process a `process` tag names still runs: known on its own host; None elsewhere
    (or for a run without the tag)."""
    host, pid, started = (tag.split(":") + ["", "", ""])[:3] if tag.count(":") >= 2 else ("", "", "")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    now = _start_time(int(pid))
    if now is None:
        return False
    return not (now and started and now != started)


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
            self.val = {m.step: m.value for m in sorted(client.get_metric_history(self.run_id, "val_accuracy"),
                                                        key=lambda m: m.timestamp)}  # the last value per epoch
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
