"""Shared fixtures: an isolated tracking store and prepared-data folder for the whole session,
and the smoke profile prepared once (real data, real pretraining, one epoch)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


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
