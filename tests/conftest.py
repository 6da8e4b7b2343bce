"""Shared fixtures: an isolated tracking store and prepared-data folder for the whole session,
the smoke profile prepared once (real data, real pretraining, one epoch), one smoke compare
logged to a real `mlflow server` for the tests that read a server (report, MLflow UI), and the
PostgreSQL-backed server of `scripts/server.sh`, started once for the tests that share it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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


@pytest.fixture(scope="session")
def smoke_table(smoke_prepared, tmp_path_factory) -> Path:
    """The smoke profile's recorded table of digits (`hpo record`, 8 design points of 4 epochs), in
    the session's store: its path."""
    from hpo.studies.record import run_record

    out = tmp_path_factory.mktemp("recorded") / "smoke-seed0.json"
    run_record(smoke_prepared[0], 0, ["digits"], out)
    return out


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


@pytest.fixture(scope="session")
def tracking_server_script():
    """`scripts/server.sh start` on free ports in a temporary folder: a `ServerScript` (tests/server_script.py);
    stopped at the end of the session, and an error if anything of it still runs then."""
    from tests.server_script import ServerScript

    # Not under pytest's temporary folder: run as root, the script runs PostgreSQL as the postgres
    # user, which cannot enter that folder (it is private to the user running pytest).
    root = Path(tempfile.mkdtemp(prefix="hpo-server-"))
    root.chmod(0o711)
    server = ServerScript(root / "server")
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def tracking_server(tracking_server_script) -> str:
    """The tracking URI of the session's PostgreSQL-backed `mlflow server` (scripts/server.sh)."""
    return tracking_server_script.uri


@pytest.fixture
def plugin_installed(tmp_path, monkeypatch):
    """tests/plugins/hpo_local_search installed as pip installs a package: the method local_search
    is registered for the test, and gone after it."""
    from hpo.search import registry
    from tests.plugins.installed import install_plugin

    yield install_plugin(tmp_path, monkeypatch)
    registry.registry.cache_clear()
