"""A tracking server that stops answering: MLflow's retries sized from HPO_TRACKING_WAIT, a line
when it stops and when it answers again, a study that waits out 30 s without losing an epoch, and
one that stops with one line after a longer outage and is continued by the same command."""

import os
import re
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from urllib3.util.retry import RequestHistory, Retry

from hpo import store_outage, tracking
from hpo.cli import main
from hpo.errors import UserError
from tests.mlflow_server import MlflowServer

MLFLOW_SETTINGS = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                   store_outage.RETRY_LIMIT_VARIABLE, store_outage.WAIT_VARIABLE)


@pytest.fixture
def wait(monkeypatch):
    """Set HPO_TRACKING_WAIT; what install() writes to the environment is undone after the test."""
    for name in MLFLOW_SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def set_wait(seconds: int | str) -> None:
        monkeypatch.setenv(store_outage.WAIT_VARIABLE, str(seconds))
    return set_wait


@pytest.mark.parametrize("retries", range(1, 12))
def test_the_pauses_are_those_urllib3_makes(retries):
    history = tuple(RequestHistory("POST", "/api", None, None, None) for _ in range(retries))
    expected = Retry(total=20, backoff_factor=store_outage.BACKOFF_FACTOR, history=history).get_backoff_time()
    assert store_outage.pause(retries) == expected


@pytest.mark.parametrize("seconds", [0, 1, 5, 30, 600, 3600, store_outage.MAX_WAIT_S])
def test_mlflow_retries_add_up_to_the_wait(wait, seconds):
    wait(seconds)
    store_outage.install("http://127.0.0.1:1")
    retries = int(os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    paused = sum(store_outage.pause(n) for n in range(1, retries + 1))
    assert paused >= seconds
    assert retries == 0 or paused - store_outage.pause(retries) < seconds
    assert int(os.environ.get(store_outage.RETRY_LIMIT_VARIABLE, "10")) >= retries


@pytest.mark.parametrize("text", ["-1", "ten", "1.5", "1e9", str(store_outage.MAX_WAIT_S + 1)])
def test_a_malformed_wait_is_one_line(wait, text, capsys):
    wait(text)
    with pytest.raises(UserError, match=store_outage.WAIT_VARIABLE):
        store_outage.wait_seconds()
    assert main(["compare", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and store_outage.WAIT_VARIABLE in err


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("outage") / "server")
    server.start()
    yield server
    server.stop()


def _new_run_then_outage(server: MlflowServer, seconds: int, set_wait) -> tuple[MlflowClient, str]:
    """A run on the server with a wait of `seconds` installed; then the server stops."""
    set_wait(seconds)
    client = tracking.client(server.url)
    run_id = client.create_run(client.create_experiment(f"outage {time.time()}")).info.run_id
    server.stop()
    return client, run_id


@pytest.mark.slow
def test_a_short_outage_is_waited_for_and_said(server, wait, capsys):
    client, run_id = _new_run_then_outage(server, 60, wait)  # attempts at 0, 0, 2, 6, 14, 30 and 62 s
    restart = threading.Timer(3, server.start)
    restart.start()
    started = time.monotonic()
    # blocks until the server is back
    tracking.log_epochs_to(client, run_id, [(1, {"val_accuracy": 0.5}, int(time.time() * 1000))])
    restart.join()
    err = capsys.readouterr().err
    assert f"the tracking server {server.url} does not answer (connection refused): waiting up to 60 s" in err
    assert f"the tracking server {server.url} answers again after" in err
    assert time.monotonic() - started < 62 + 6 + 10  # the pauses, their jitter (under 1 s each), the attempts
    assert [m.value for m in MlflowClient(server.url).get_metric_history(run_id, "val_accuracy")] == [0.5]


@pytest.mark.slow
def test_a_longer_outage_is_an_error_in_one_line(server, wait, capsys):
    client, run_id = _new_run_then_outage(server, 3, wait)
    try:
        started = time.monotonic()
        with pytest.raises(MlflowException) as raised:
            tracking.log_epochs_to(client, run_id, [(1, {"val_accuracy": 0.5}, int(time.time() * 1000))])
        assert time.monotonic() - started < 3 + 2 * 2 + 5  # the pauses, their jitter, the attempts
        assert store_outage.is_outage(raised.value)
        assert not store_outage.is_outage(MlflowException("RESOURCE_DOES_NOT_EXIST"))
        message = str(store_outage.outage_error())
        assert server.url in message and "3 s" in message and "run the same command again" in message
        assert "does not answer" in capsys.readouterr().err
    finally:
        server.start()


# A smoke compare in a subprocess, logging to a server the test stops and starts again

def _compare(server: MlflowServer, folder, wait_s: int, methods: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=server.url, HPO_TRACKING_WAIT=str(wait_s))
    folder.mkdir(exist_ok=True)
    with open(folder / "stdout", "w") as stdout:
        return subprocess.Popen([sys.executable, "-m", "hpo", "compare", "--profile", "smoke", "--seed", "0",
                                 "--datasets", "digits", "--methods", methods, "--budget", "8"],
                                stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, cwd=folder)


def _epochs_logged(server: MlflowServer) -> int:
    if not server.store.exists():
        return 0
    with sqlite3.connect(f"file:{server.store}?mode=ro", uri=True) as db:
        try:
            return db.execute("select count(*) from metrics where key = 'val_accuracy'").fetchone()[0]
        except sqlite3.OperationalError:  # its tables are not made yet
            return 0


def _stop_after_epochs(server: MlflowServer, proc: subprocess.Popen, epochs: int) -> None:
    deadline = time.time() + 600
    while _epochs_logged(server) < epochs:
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "the compare logged no epochs in 10 minutes"
        time.sleep(0.2)
    server.stop()


def _assert_every_epoch_recorded(server: MlflowServer) -> None:
    """Every run ended; every trial FINISHED with val_accuracy at each epoch up to the last it trained."""
    client = MlflowClient(server.url)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=5000)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
    trials = [r for r in runs if "trial" in r.data.tags]
    assert len(trials) >= 4
    for run in trials:
        assert run.info.status == "FINISHED", (run.info.run_name, run.data.tags.get("error"))
        trained = int(max(m.value for m in client.get_metric_history(run.info.run_id, "epochs")))
        steps = {m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")}
        assert steps == set(range(1, trained + 1)), run.info.run_name


@pytest.fixture
def own_server(tmp_path):
    """A server of the test's own, stopped after it whatever happened."""
    server = MlflowServer(tmp_path / "server")
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_a_compare_waits_out_its_server_stopped_for_30_s(smoke_prepared, own_server, tmp_path):
    proc = _compare(own_server, tmp_path / "compare", wait_s=120, methods="grid,asha")  # 16 epochs in all
    _stop_after_epochs(own_server, proc, epochs=10)
    time.sleep(30)
    own_server.start()
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    # refused, or broken where the server was stopped in the middle of a request
    assert re.search(r"does not answer \((connection refused|connection broken)\): waiting up to 120 s", err)
    assert "answers again after" in err
    _assert_every_epoch_recorded(own_server)


@pytest.mark.slow
def test_a_compare_stops_after_the_wait_and_the_same_command_continues_it(smoke_prepared, own_server, tmp_path):
    server = own_server
    proc = _compare(server, tmp_path / "compare", wait_s=4, methods="asha")  # 8 epochs in all
    _stop_after_epochs(server, proc, epochs=4)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-3000:]
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (f"hpo compare: error: the tracking server {server.url} did not answer for "
                                    "4 s (HPO_TRACKING_WAIT): the study stopped, keeping what it recorded; "
                                    "once the server answers, run the same command again: it continues the "
                                    "study")
    server.start()
    again = _compare(server, tmp_path / "compare", wait_s=120, methods="asha")
    _, err = again.communicate(timeout=900)
    assert again.returncode == 0, err[-3000:]
    assert "continuing the compare study run" in (tmp_path / "compare" / "stdout").read_text()
    _assert_every_epoch_recorded(server)
