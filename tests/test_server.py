"""`scripts/server.sh` (`make server`): a real PostgreSQL and a real `mlflow server` in front of it.
Four processes writing at once lose no metric, artifacts go through the server to its folder, a
second start says so, stop leaves nothing running or listening, and a new start finds the same store."""

import subprocess
import sys
import time

import psycopg2
import pytest
from mlflow.tracking import MlflowClient

from tests.server_script import group_members, port_open, running

WRITERS = 4
STEPS = 200

# One worker: a run, a few params, then (once every writer has its run) a metric per step, by run id.
WRITER = """
import sys
from mlflow.tracking import MlflowClient

uri, experiment_id, writer, steps, artifact = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
client = MlflowClient(uri)
run_id = client.create_run(experiment_id, run_name=f"writer {writer}").info.run_id
for name, value in (("writer", writer), ("optimizer", "sgd"), ("learning_rate", 0.001 * (writer + 1))):
    client.log_param(run_id, name, value)
print(run_id, flush=True)
sys.stdin.readline()
for step in range(steps):
    client.log_metric(run_id, "val_accuracy", writer + step / 1000, step=step)
if writer == 0:
    client.log_artifact(run_id, artifact)
client.set_terminated(run_id)
"""


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(tracking_server_script, tracking_server, tmp_path):
    client = MlflowClient(tracking_server)
    experiment_id = client.create_experiment(f"writers {time.time()}")
    artifact = tmp_path / "table.csv"
    artifact.write_text("method,best\nasha,0.91\n")
    errors = [tmp_path / f"writer{w}.err" for w in range(WRITERS)]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, tracking_server, experiment_id, str(w), str(STEPS),
                                 str(artifact)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errors[w].open("w"), text=True)
               for w in range(WRITERS)]
    run_ids = [writer.stdout.readline().strip() for writer in writers]
    for writer in writers:  # all at once
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for w, writer in enumerate(writers):
        writer.communicate(timeout=180)
        assert writer.returncode == 0 and run_ids[w], errors[w].read_text()[-3000:]
        assert "Traceback" not in errors[w].read_text()

    assert {run.info.run_id for run in client.search_runs([experiment_id])} == set(run_ids)
    for w, run_id in enumerate(run_ids):
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert run.data.params == {"writer": str(w), "optimizer": "sgd", "learning_rate": str(0.001 * (w + 1))}
        history = sorted(client.get_metric_history(run_id, "val_accuracy"), key=lambda m: m.step)
        assert [(m.step, m.value) for m in history] == [(s, w + s / 1000) for s in range(STEPS)]

    # In PostgreSQL itself, through the password file the script wrote for MLflow's driver.
    server = tracking_server_script
    with psycopg2.connect(host="127.0.0.1", port=server.pg_port, user="mlflow", dbname="mlflow",
                          passfile=str(server.folder / "pgpass")) as db, db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM metrics WHERE run_uuid = ANY(%s)", (run_ids,))
        assert cursor.fetchone()[0] == WRITERS * STEPS
    db.close()

    # The artifact one writer logged: through the server, kept in the server's folder.
    first = client.get_run(run_ids[0])
    assert first.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert [a.path for a in client.list_artifacts(run_ids[0])] == ["table.csv"]
    downloaded = client.download_artifacts(run_ids[0], "table.csv", str(tmp_path / "back"))
    assert open(downloaded).read() == artifact.read_text()
    assert (server.folder / "artifacts" / experiment_id / run_ids[0] / "artifacts" / "table.csv").exists()


@pytest.mark.slow
def test_a_second_start_says_so(tracking_server_script):
    pids = tracking_server_script.pids()
    done = tracking_server_script.start()
    assert "already running" in done.stderr
    assert tracking_server_script.pids() == pids


@pytest.mark.slow
def test_stop_leaves_nothing_and_start_finds_the_same_store(tracking_server_script):
    server = tracking_server_script
    client = MlflowClient(server.uri)
    run_id = client.create_run(client.create_experiment(f"restart {time.time()}")).info.run_id
    client.log_metric(run_id, "val_accuracy", 0.5, step=3)
    pids = server.pids()
    assert set(pids) == {"mlflow", "postgres"}

    server.stop()  # raises if a port still answers or a process of either still runs
    assert not port_open(server.port) and not port_open(server.pg_port)
    assert group_members(pids["mlflow"]) == [] and not running(pids["postgres"])
    status = server.run("status")
    assert status.returncode == 3
    assert status.stdout == "postgres: stopped\nmlflow server: stopped\n"
    again = server.run("stop")
    assert again.returncode == 0, again.stderr

    server.start()  # the session's other tests go on with the same server
    assert server.run("status").returncode == 0
    assert client.get_run(run_id).data.metrics == {"val_accuracy": 0.5}
