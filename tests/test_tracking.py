"""What a rerun reads back of a trial run: which of its jobs the store holds (no training)."""

import math

from mlflow.entities import Metric

from hpo import tracking


def _trial(client, experiment_id, metrics, tags):
    run = client.create_run(experiment_id, tags={"trial": "0", "method": "asha", **tags})
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, t, step) for t, (k, step, v) in enumerate(metrics)])
    return tracking.TrialRun(run.info.run_id, {"learning_rate": "0.001"}, {"trial": "0", **tags})


def test_a_job_is_recorded_once_epochs_is_logged_at_its_last_epoch(client):
    experiment = client.create_experiment("tracking-recorded-jobs")
    # epochs 1..3 of a promoted trial: epoch 2 was logged twice (a job cut short, then trained
    # again) and its test set was not scored; epoch 3 was logged but its job never ended
    run = _trial(client, experiment, [("val_accuracy", 1, 0.5), ("test_accuracy", 1, 0.4), ("epochs", 1, 1),
                                      ("val_accuracy", 2, 0.1), ("val_accuracy", 2, 0.6), ("epochs", 2, 2),
                                      ("val_accuracy", 3, 0.7)],
                 {"status": "FINISHED"})
    first, second = run.recorded_job(0, 1), run.recorded_job(1, 2)
    assert (first.score, first.test_accuracy, first.epochs_trained, first.recorded) == (0.5, 0.4, 1, True)
    assert second.score == 0.6 and math.isnan(second.test_accuracy) and second.epochs_trained == 1  # the last value
    assert run.recorded_job(2, 3) is None  # never finished: trained again


def test_a_diverged_job_is_recorded_a_cut_short_one_is_not(client):
    experiment = client.create_experiment("tracking-diverged-jobs")
    diverged = _trial(client, experiment, [("val_accuracy", 1, 0.2), ("val_accuracy", 2, 0.1)],
                      {"status": "FAILED", "error": "TrainingDiverged: loss became nan at epoch 2"})
    outcome = diverged.recorded_job(0, 25)
    assert math.isnan(outcome.score) and outcome.epochs_trained == 2 and outcome.error.startswith("TrainingDiverged")
    killed = _trial(client, experiment, [("val_accuracy", 1, 0.2), ("val_accuracy", 2, 0.1)],
                    {"status": "KILLED", "error": "interrupted"})
    assert killed.recorded_job(0, 25) is None


def test_the_same_configuration_despite_string_round_trips():
    run = tracking.TrialRun("x", {"learning_rate": "0.001", "optimizer": "adam", "fine_tuned_layers": "9"}, {})
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
