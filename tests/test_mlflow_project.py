"""`mlflow run . -e <entry point> --env-manager local`, as a user runs it (slow: subprocesses)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _mlflow_run(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_EXPERIMENT")}  # set by earlier runs
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return subprocess.run([sys.executable, "-m", "mlflow", "run", str(ROOT), "--env-manager", "local",
                           "--experiment-name", "project-train", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_train_entry_point_logs_a_finished_run(smoke_prepared, client):
    done = _mlflow_run("-e", "train", "-P", "profile=smoke", "-P", "dataset=digits", "-P", "epochs=2",
                       "-P", "learning_rate=1e-3")
    assert done.returncode == 0, done.stderr[-3000:]
    exp = client.get_experiment_by_name("project-train")
    run = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'")[0]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1, 2]
    assert run.data.params["learning_rate"] == "1e-3"  # as given to mlflow run, and not re-logged
    assert run.data.tags["profile"] == "smoke" and "test_accuracy" in run.data.metrics


def test_bad_parameter_fails_the_run_it_started(smoke_prepared, client):
    done = _mlflow_run("-e", "train", "-P", "profile=smoke", "-P", "optimizer=nesterov")
    assert done.returncode != 0
    assert "hpo train: error: unknown optimizer 'nesterov'" in done.stderr
    exp = client.get_experiment_by_name("project-train")
    assert not client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")
    assert client.search_runs([exp.experiment_id], "attributes.status = 'FAILED'")
