"""Everything the suite says to MLflow, in one place: stage and trial runs, parameters,
per-epoch metrics, provenance tags. Tracking URI: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db."""

from __future__ import annotations

import os
import platform
import subprocess
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from hpo.errors import UserError, one_line

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
VERSIONED_PACKAGES = ("tensorflow-cpu", "tensorflow", "torch", "jax", "keras", "mlflow", "numpy", "hyperopt",
                      "scikit-optimize", "ConfigSpace", "fanova", "scikit-learn", "pandas", "dvc")


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, otherwise the local sqlite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def configure() -> str:
    """Point MLflow at tracking_uri(); return it."""
    uri = tracking_uri()
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
    """End `run` FINISHED, or FAILED / KILLED with the reason as tag `error`, whatever happens."""
    try:
        yield run
    except KeyboardInterrupt:
        mlflow.set_tag("error", "interrupted")
        mlflow.end_run("KILLED")
        raise
    except BaseException as e:
        mlflow.set_tag("error", one_line(f"{type(e).__name__}: {e}", 4000))
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


@contextmanager
def stage_run(stage: str, run_name: str, tags: dict[str, str]):
    """The run of one stage invocation. Under `mlflow run` it is the run MLflow created
    (MLFLOW_RUN_ID); otherwise a new run in the experiment named after the stage."""
    configure()
    if not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.set_experiment(stage)
    run = mlflow.start_run(run_name=run_name)
    with _finishing(run):
        mlflow.set_tags(tags)
        yield run


@contextmanager
def child_run(run_name: str, tags: dict[str, str], run_id: str | None = None):
    """A run nested under the active one (a method under a study, a trial under a method);
    with `run_id`, that earlier child is reopened (an ASHA trial promoted to the next rung)."""
    run = mlflow.start_run(run_id=run_id, nested=True) if run_id else mlflow.start_run(run_name=run_name, nested=True)
    with _finishing(run):
        mlflow.set_tags(tags)
        yield run


def _same_value(old: str, new: str) -> bool:
    if old == new:
        return True
    try:
        return float(old) == float(new)
    except ValueError:
        return False


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


def tag_run(run_id: str, tags: dict[str, str]) -> None:
    """Tag a run that is no longer active (the status tag of a trial that just failed)."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def earlier_trials(tags: dict[str, str]) -> list:
    """Earlier trial runs with these tags that trained to the end (or diverged: retraining would
    diverge again), newest first; one query for a whole study's worth. Searched in every
    experiment: `mlflow run` may have put the study anywhere."""
    client = MlflowClient()
    where = " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items())
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, where, order_by=["attributes.start_time DESC"])
    return [r for r in runs if r.data.tags.get("status") == "FINISHED" or (
        r.data.tags.get("status") == "FAILED" and r.data.tags.get("error", "").startswith("TrainingDiverged"))]


def matching_trial(runs: list, trial: int, params: dict, epochs: int):
    """The newest of `runs` (from earlier_trials) that was trial `trial` with exactly these
    parameters and `epochs` epochs; else None."""
    for run in runs:
        logged = run.data.params
        if run.data.tags.get("trial") == str(trial) and run.data.metrics.get("epochs") == epochs \
                and set(logged) == {str(k) for k in params} \
                and all(_same_value(logged[str(k)], str(v)) for k, v in params.items()):
            return run
    return None


def copy_trial(source) -> None:
    """Record an earlier trial run (from earlier_trials) in the active run: its parameters,
    metric histories and status, tagged `reused_from`."""
    from mlflow.entities import Metric

    client = MlflowClient()
    source_run_id = source.info.run_id
    run_id = active_run_id()
    history = [Metric(m.key, m.value, m.timestamp, m.step)
               for key in source.data.metrics for m in client.get_metric_history(source_run_id, key)]
    for start in range(0, len(history), 1000):  # MLflow's batch limit
        client.log_batch(run_id, metrics=history[start:start + 1000])
    log_params(source.data.params)
    keep = {k: v for k, v in source.data.tags.items() if k in ("status", "error")}
    mlflow.set_tags({**keep, "reused_from": source_run_id})


def log_artifacts(folder: Path, artifact_path: str) -> None:
    mlflow.log_artifacts(str(folder), artifact_path)


def last_study_record() -> dict:
    """The study run this process just finished (the last run it ended): id, stage, profile,
    seed, study and data checksum; what a DVC stage keeps as its output."""
    run = mlflow.last_active_run()
    if run is None:
        raise UserError("no study run was recorded in this process")
    tags = run.data.tags
    return {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id, "status": run.info.status,
            **{key: tags.get(key, "") for key in ("stage", "study", "profile", "seed", "data_checksum")}}
