"""The cost of logging one epoch's four metrics to MLflow: a sqlite store, and a local `mlflow
server` (sqlite behind HTTP on 127.0.0.1), started here as a real subprocess."""

import socket
import subprocess
import sys
import time
import urllib.request

import mlflow
import pytest

METRICS = {"train_loss": 0.5, "train_accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.75}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root, port = tmp_path_factory.mktemp("server"), _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
                             "--default-artifact-root", str(root / "artifacts")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start in 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def _log_epochs(benchmark, uri):
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-logging")
    with mlflow.start_run():
        step = iter(range(1, 10**6))
        benchmark.pedantic(lambda: mlflow.log_metrics(METRICS, step=next(step)), rounds=50, iterations=1)


def test_log_one_epoch_to_sqlite(benchmark, tmp_path):
    _log_epochs(benchmark, f"sqlite:///{tmp_path / 'bench.db'}")


def test_log_one_epoch_to_a_local_server(benchmark, server):
    _log_epochs(benchmark, server)
