"""What a rerun reads back of a trial run: which of its jobs the store holds (no training)."""

import math
import os
import signal
import socket
import subprocess
import sys

import pytest
from mlflow.entities import Metric

from hpo import tracking


def _trial(client, experiment_id, metrics, status, tags=None):
    run = client.create_run(experiment_id, tags={"trial": "0", "method": "asha", **(tags or {})})
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, t, step) for t, (k, step, v) in enumerate(metrics)])
    client.set_terminated(run.info.run_id, status)
    return tracking.TrialRun(run.info.run_id, {"learning_rate": "0.001"}, {"trial": "0", **(tags or {})}, status)


def test_a_job_is_recorded_once_epochs_is_logged_at_its_last_epoch(client):
    experiment = client.create_experiment("tracking-recorded-jobs")
    # epochs 1..3 of a promoted trial: epoch 2 was logged twice (a job cut short, then trained
    # again) and its test set was not scored; epoch 3 was logged but its job never ended
    run = _trial(client, experiment, [("val_accuracy", 1, 0.5), ("test_accuracy", 1, 0.4), ("epochs", 1, 1),
                                      ("val_accuracy", 2, 0.1), ("val_accuracy", 2, 0.6), ("epochs", 2, 2),
                                      ("val_accuracy", 3, 0.7)],
                 "FINISHED")
    first, second = run.recorded_job(0, 1), run.recorded_job(1, 2)
    assert (first.score, first.test_accuracy, first.epochs_trained, first.recorded) == (0.5, 0.4, 1, True)
    assert second.score == 0.6 and math.isnan(second.test_accuracy) and second.epochs_trained == 1  # the last value
    assert run.recorded_job(2, 3) is None  # never finished: trained again


def test_a_diverged_job_is_recorded_a_cut_short_one_is_not(client):
    experiment = client.create_experiment("tracking-diverged-jobs")
    diverged = _trial(client, experiment, [("val_accuracy", 1, 0.2), ("val_accuracy", 2, 0.1)],
                      "FAILED", {"error": "TrainingDiverged: loss became nan at epoch 2"})
    outcome = diverged.recorded_job(0, 25)
    assert math.isnan(outcome.score) and outcome.epochs_trained == 2 and outcome.error.startswith("TrainingDiverged")
    killed = _trial(client, experiment, [("val_accuracy", 1, 0.2), ("val_accuracy", 2, 0.1)],
                    "KILLED", {"error": "interrupted"})
    assert killed.recorded_job(0, 25) is None


def test_a_run_whose_last_job_ended_but_whose_state_was_lost_is_closed_finished(client):
    """A process stopped between a job's closing metrics and the run's state: a rerun marked the
    run KILLED; reading its last job back makes it FINISHED. A run with a later epoch stays."""
    experiment = client.create_experiment("tracking-lost-state")
    ended = [("val_accuracy", 1, 0.5), ("epochs", 1, 1)]
    run = _trial(client, experiment, ended, "KILLED", {"error": "interrupted: the process running it ended"})
    client.set_tag(run.run_id, "error", "interrupted: the process running it ended")
    assert run.recorded_job(0, 1) is not None
    tracking.close_ended_run(run, 1)
    stored = client.get_run(run.run_id)
    assert stored.info.status == run.status == "FINISHED" and "error" not in stored.data.tags
    later = _trial(client, experiment, [*ended, ("val_accuracy", 2, 0.6)], "KILLED")
    assert later.recorded_job(0, 1) is not None
    tracking.close_ended_run(later, 1)  # epoch 2 of a job that never ended: not this run's end
    assert client.get_run(later.run_id).info.status == later.status == "KILLED"


def test_the_same_configuration_despite_string_round_trips():
    run = tracking.TrialRun("x", {"learning_rate": "0.001", "optimizer": "adam", "fine_tuned_layers": "9"}, {},
                           "FINISHED")
    assert run.same_config({"learning_rate": 1e-3, "optimizer": "adam", "fine_tuned_layers": 9})
    assert not run.same_config({"learning_rate": 2e-3, "optimizer": "adam", "fine_tuned_layers": 9})
    assert not run.same_config({"learning_rate": 1e-3, "optimizer": "adam"})


def test_the_study_key_names_everything_that_makes_a_study(smoke_profile):
    key = tracking.study_key("compare", smoke_profile, 0, "abc", datasets=["digits"], methods=["grid"], budget=8)
    assert key == tracking.study_key("compare", smoke_profile, 0, "abc", datasets=["digits"], methods=["grid"],
                                     budget=8)
    others = [tracking.study_key("subset", smoke_profile, 0, "abc", datasets=["digits"], methods=["grid"], budget=8),
              tracking.study_key("compare", smoke_profile, 1, "abc", datasets=["digits"], methods=["grid"], budget=8),
              tracking.study_key("compare", smoke_profile, 0, "abd", datasets=["digits"], methods=["grid"], budget=8),
              tracking.study_key("compare", smoke_profile, 0, "abc", datasets=["digits"], methods=["grid"], budget=9)]
    assert key not in others and len(set(others)) == 4


# --- runs left RUNNING by a process that no longer exists --------------------------------------

def _killed_process_run(uri: str, experiment_id: str, tags: dict[str, str]) -> str:
    """A run created by a process that then dies by SIGKILL (no handler runs): its id."""
    code = ("import os, sys\nfrom mlflow.tracking import MlflowClient\nfrom hpo import tracking\n"
            f"run = MlflowClient({uri!r}).create_run({experiment_id!r}, tags={{**{tags!r}, "
            "tracking.PROCESS_TAG: tracking.this_process()})\n"
            "print(run.info.run_id, flush=True)\nos.kill(os.getpid(), 9)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    return done.stdout.strip()


def test_runs_of_a_killed_process_are_found_and_live_ones_left(client):
    uri = os.environ["MLFLOW_TRACKING_URI"]
    experiment = client.create_experiment("tracking-dead-processes")
    dead = _killed_process_run(uri, experiment, {"stage": "compare"})
    alive = client.create_run(experiment, tags={tracking.PROCESS_TAG: tracking.this_process()}).info.run_id
    reused = client.create_run(experiment, tags={  # this process's pid, another start time: a reused pid
        tracking.PROCESS_TAG: tracking.this_process().rsplit(":", 1)[0] + ":1"}).info.run_id
    elsewhere = client.create_run(experiment, tags={tracking.PROCESS_TAG: "another-host:1:1"}).info.run_id
    assert client.get_run(dead).info.status == "RUNNING"
    assert tracking.process_alive(client.get_run(dead).data.tags[tracking.PROCESS_TAG]) is False
    assert {r.info.run_id for r in tracking.runs_of_dead_processes(uri)} == {dead, reused}
    for run_id in (dead, reused, alive, elsewhere):  # found, not ended: the stage that made them ends them
        assert client.get_run(run_id).info.status == "RUNNING"
    for run_id in (dead, reused, alive, elsewhere):
        client.set_terminated(run_id)


def test_a_study_that_runs_in_a_live_process_is_not_taken_over(client):
    experiment = client.create_experiment("tracking-live-study")
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        owner = f"{socket.gethostname()}:{sleeper.pid}:{tracking._start_time(sleeper.pid)}"
        run = client.create_run(experiment, tags={tracking.STUDY_KEY: "live-study", tracking.PROCESS_TAG: owner})
        expected = (rf"^this study is running now, in process {owner} \(run {run.info.run_id}\): wait for it to "
                    "end, or stop that process$")
        with pytest.raises(tracking.UserError, match=expected):
            tracking.end_abandoned_runs("live-study")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert tracking.end_abandoned_runs("live-study") == 1
    assert client.get_run(run.info.run_id).info.status == "KILLED"


def test_a_deleted_experiment_or_a_run_id_of_no_run_is_one_line(client, monkeypatch):
    client.delete_experiment(client.create_experiment("tracking-deleted"))
    with pytest.raises(tracking.UserError, match=r"^cannot open the tracking-deleted run in .* \(.*deleted experiment"):
        with tracking.stage_run("tracking-deleted", "never", {}):
            pass
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef0123456789abcdef")
    with pytest.raises(tracking.UserError, match=r"^cannot open the tracking-bogus run in .* \(Run .*not found"):
        with tracking.stage_run("tracking-bogus", "never", {}):
            pass


WRITER = """
import sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric
uri, run_id, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = MlflowClient(uri)
for epoch in range(1, epochs + 1):
    client.log_batch(run_id, metrics=[Metric(k, epoch / 1000, int(time.time() * 1000), epoch)
                                      for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")])
"""


@pytest.mark.slow
def test_several_processes_writing_one_sqlite_store_lose_nothing(tmp_path):
    """Dask workers on one machine log epochs to one sqlite file at once: each write waits for the
    file's lock (sqlite's busy timeout) instead of failing with "database is locked"."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("writers")
    runs = [client.create_run(experiment).info.run_id for _ in range(6)]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, uri, run_id, "150"], stderr=subprocess.PIPE, text=True)
               for run_id in runs]
    for writer in writers:
        assert writer.wait(timeout=600) == 0, writer.stderr.read()[-2000:]
    for run_id in runs:
        for key in ("train_loss", "val_accuracy"):
            assert [m.step for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)] == list(
                range(1, 151))
