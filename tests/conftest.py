"""Shared fixtures: an isolated tracking store and prepared-data folder for the whole session,
the smoke profile prepared once (real data, real pretraining, one epoch), and one smoke compare
logged to a real `mlflow server` for the tests that read a server (report, MLflow UI)."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_store(tmp_path_factory):
    """Point MLflow, prepared data and checkpoints at a temporary folder, never at the working tree."""
    root = tmp_path_factory.mktemp("store")
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "HPO_PREPARED_DIR", "HPO_CHECKPOINT_DIR",
                                            "MLFLOW_RUN_ID")}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ["HPO_PREPARED_DIR"] = str(root / "prepared")
    os.environ["HPO_CHECKPOINT_DIR"] = str(root / "checkpoints")
    os.environ.pop("MLFLOW_RUN_ID", None)
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def smoke_profile():
    from hpo.profiles import load_profile
    return load_profile("smoke")


@pytest.fixture(scope="session")
def smoke_prepared(smoke_profile):
    """The smoke profile prepared with seed 0: (profile, manifest)."""
    from hpo.studies.prepare import run_prepare
    return smoke_profile, run_prepare(smoke_profile, seed=0)


@pytest.fixture
def client():
    from mlflow.tracking import MlflowClient
    return MlflowClient(os.environ["MLFLOW_TRACKING_URI"])


@pytest.fixture(scope="session")
def served_compare(smoke_prepared, tmp_path_factory):
    """A smoke compare (digits; grid and ASHA; 8 epochs each) logged by `hpo compare`, in a
    subprocess, to a real `mlflow server` whose store is `root/server/server.db`: (server URL, root)."""
    from tests.mlflow_server import mlflow_server

    root = tmp_path_factory.mktemp("served")
    with mlflow_server(root / "server") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_EXPERIMENT")}
        done = subprocess.run([sys.executable, "-m", "hpo", "compare", "--profile", "smoke", "--seed", "0",
                               "--datasets", "digits", "--methods", "grid,asha", "--budget", "8"],
                              capture_output=True, text=True, env={**env, "MLFLOW_TRACKING_URI": url}, cwd=root,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        yield url, root
