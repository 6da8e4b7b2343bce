"""The worker: a job from plain data, logged by run id, checkpoints written whole."""

import pickle

import pytest

from hpo import tracking
from hpo.executor.worker import TrialSpec, train_job

CONFIG = {"learning_rate": 0.003, "dropout": 0.1, "optimizer": "adam", "fine_tuned_layers": 9, "input_size": 32,
          "batch_size": 32}


@pytest.mark.slow
def test_a_promoted_trial_resumes_from_its_checkpoint_and_logs_by_run_id(smoke_prepared, client, tmp_path):
    profile, _ = smoke_prepared
    parent = client.create_run(client.create_experiment("worker-test"))
    run_id = tracking.start_trial_run(parent.info.experiment_id, parent.info.run_id, "asha trial 0",
                                      {"trial": "0", "method": "asha"}, CONFIG)

    def spec(start, stop):
        return TrialSpec(profile=profile, prepare_seed=0, dataset="digits", config=CONFIG, start=start, stop=stop,
                         train_seed=7, run_id=run_id, tracking_uri=tracking.tracking_uri(),
                         checkpoints=str(tmp_path / "trial-0"))

    assert pickle.loads(pickle.dumps(spec(0, 1))) == spec(0, 1)  # it may cross a process boundary
    first = train_job(spec(0, 1))
    assert first.error is None and first.epochs_trained == 1
    assert sorted(p.name for p in (tmp_path / "trial-0").iterdir()) == ["epoch-1"]
    assert client.get_run(run_id).info.status == "FINISHED"

    tracking.reopen_trial_run(tracking.TrialRun(run_id, {}, {}, "FINISHED"), {"rung": "1"})
    second = train_job(spec(1, 3))
    assert second.error is None and second.epochs_trained == 2
    assert sorted(p.name for p in (tmp_path / "trial-0").iterdir()) == ["epoch-3"]  # the job is recorded: 1 goes
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and "status" not in run.data.tags  # the run's state is the one record
    assert [m.step for m in client.get_metric_history(run_id, "val_accuracy")] == [1, 2, 3]
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "epochs")] == [(1, 1), (3, 3)]
    recorded = tracking.trial_runs(parent.info.experiment_id, parent.info.run_id, "asha")[0]
    assert recorded.recorded_job(1, 3).score == second.score and recorded.recorded_job(0, 1).score == first.score

    lost = train_job(spec(1, 2))  # its checkpoint is gone: the trial fails with a clear reason
    assert lost.error.startswith("FileNotFoundError: checkpoint") and "--restart" in lost.error
    assert client.get_run(run_id).info.status == "FAILED"


@pytest.mark.slow
@pytest.mark.parametrize("every, writes", [(None, 1), ("0", 3)])
def test_a_job_writes_its_epochs_together_unless_asked_each_as_it_ends(smoke_prepared, client, monkeypatch,
                                                                       every, writes):
    """By default a short job's epochs go to the store with its end, in one write, each with the
    time it ended; HPO_EPOCH_LOG_SECONDS=0 writes each epoch as it ends (the last with the end)."""
    profile, _ = smoke_prepared
    if every is None:
        monkeypatch.delenv(tracking.EPOCH_LOG_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(tracking.EPOCH_LOG_VARIABLE, every)
    parent = client.create_run(client.create_experiment(f"worker-writes-{every}"))
    run_id = tracking.start_trial_run(parent.info.experiment_id, parent.info.run_id, "random trial 0",
                                      {"trial": "0", "method": "random"}, CONFIG)
    calls = []
    log_epochs_to = tracking.log_epochs_to
    monkeypatch.setattr(tracking, "log_epochs_to", lambda *a, **k: calls.append(list(a[2])) or log_epochs_to(*a, **k))
    monkeypatch.setattr(tracking.trial_record, "log_epochs_to", tracking.log_epochs_to)  # end_trial_run's call too
    outcome = train_job(TrialSpec(profile=profile, prepare_seed=0, dataset="digits", config=CONFIG, start=0, stop=3,
                                  train_seed=7, run_id=run_id, tracking_uri=tracking.tracking_uri()))
    assert outcome.error is None and len(calls) == writes
    assert [[epoch for epoch, *_ in call] for call in calls] == ([[1, 2, 3]] if writes == 1 else [[1], [2], [3]])
    history = client.get_metric_history(run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2, 3]
    assert history[0].timestamp <= history[1].timestamp <= history[2].timestamp
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags[tracking.WORKER_TAG] == tracking.this_process()


@pytest.mark.parametrize("text", ["-1", "ten", "1.5", str(tracking.MAX_EPOCH_LOG_S + 1)])
def test_a_malformed_epoch_log_setting_is_one_line(monkeypatch, text, capsys):
    from hpo.cli import main
    from hpo.errors import UserError

    monkeypatch.setenv(tracking.EPOCH_LOG_VARIABLE, text)
    with pytest.raises(UserError, match=tracking.EPOCH_LOG_VARIABLE):
        tracking.epoch_log_seconds()
    assert main(["compare", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and tracking.EPOCH_LOG_VARIABLE in err
