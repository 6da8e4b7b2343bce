import numpy as np
import pytest

from hpo.errors import UserError
from hpo.profiles import load_profile, parse_profile
from hpo.report.importance import read_marginals
from hpo.studies.importance import configurations, run_importance
from hpo.studies.report import run_report

SMOKE = load_profile("smoke")
NAMES = ("learning_rate", "dropout", "optimizer", "fine_tuned_layers", "input_size", "batch_size")


def _smoke_with(old: str, new: str):
    text = open(SMOKE.source_file).read()
    assert old in text
    profile = parse_profile(text.replace(old, new), SMOKE.source_file)
    assert profile.prepare_checksum == SMOKE.prepare_checksum  # the prepared smoke data still serves
    return profile


def _latest_study(client):
    experiment = client.get_experiment_by_name("importance")
    return client.search_runs([experiment.experiment_id], "tags.stage = 'importance'",
                              order_by=["attributes.start_time DESC"])[0]


def _children(client, run):
    return client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")


def test_configurations_follow_the_seed_and_the_initial_space():
    first, again, other = configurations(SMOKE, 0, 0), configurations(SMOKE, 0, 0), configurations(SMOKE, 1, 0)
    assert first == again and first != other and first != configurations(SMOKE, 0, 1)
    assert len(first) == SMOKE.importance.trainings
    initial = SMOKE.space.initial
    for c in first:
        assert initial.learning_rate.low <= c["learning_rate"] <= initial.learning_rate.high
        assert c["input_size"] in initial.input_size and c["batch_size"] in initial.batch_size


@pytest.mark.slow
def test_importance_end_to_end_then_a_rerun_trains_nothing(smoke_prepared, client, tmp_path):
    results = run_importance(SMOKE, 0)
    assert set(results) == {"fashion", "digits", "all datasets"}
    study = _latest_study(client)
    assert study.info.status == "FINISHED" and study.data.tags["study"] == "importance-smoke-seed0"
    pooled = {name: study.data.metrics[f"importance_{name}"] for name in NAMES}
    assert all(0 <= v <= 1 for v in pooled.values()) and sum(pooled.values()) <= 1 + 1e-6
    artifacts = {a.path for a in client.list_artifacts(study.info.run_id)}
    assert {"table4_importance.md", "table4_importance.csv", "table5_pairs.md", "marginals", "marginals.json"} \
        <= artifacts
    logged = read_marginals(open(client.download_artifacts(study.info.run_id, "marginals.json")).read())
    assert list(logged) == list(results)
    for label, (n_trials, curves) in logged.items():  # the report draws Fig. 3 from exactly these numbers
        assert n_trials == results[label].n_trials
        for curve in curves:
            expected = results[label].marginals[curve.name]
            assert curve.values == expected.values and curve.kind == expected.kind
            assert np.array_equal(curve.mean, expected.mean) and np.array_equal(curve.std, expected.std)
    # one function made the stage's Tables 4 and 5 and the report's, so they are the same bytes
    run_report("smoke", 0, [study.info.run_id], tmp_path, uri=client.tracking_uri)
    for name in ("table4_importance.md", "table4_importance.csv", "table5_pairs.md", "table5_pairs.csv"):
        logged = open(client.download_artifacts(study.info.run_id, name)).read()
        assert logged == (tmp_path / "tables" / name).read_text(), name
    assert {p.name for p in (tmp_path / "figures").glob("marginals_*.png")} == {
        "marginals_fashion.png", "marginals_digits.png", "marginals_all_datasets.png"}
    description = study.data.tags["mlflow.note.content"]
    for table in ("table4_importance.md", "table5_pairs.md"):
        assert open(client.download_artifacts(study.info.run_id, table)).read().strip() in description
    assert {i.dataset.name for i in study.inputs.dataset_inputs} == {
        f"{d} {split}" for d in ("fashion", "digits") for split in ("train", "val", "test")}
    plots = client.list_artifacts(study.info.run_id, "marginals/all_datasets")
    assert {p.path.rsplit("/", 1)[-1] for p in plots} == {f"marginal_{n}.png" for n in NAMES}
    datasets = _children(client, study)
    assert sorted(d.data.tags["dataset"] for d in datasets) == ["digits", "fashion"]
    for d in datasets:
        trials = _children(client, d)
        assert len(trials) == SMOKE.importance.trainings == d.data.metrics["n_trials"]
        assert d.data.metrics["n_recorded_jobs"] == 0
        assert {i.dataset.name for i in d.inputs.dataset_inputs} == {
            f"{d.data.tags['dataset']} {split}" for split in ("train", "val", "test")}
        for t in trials:
            steps = [m.step for m in client.get_metric_history(t.info.run_id, "val_accuracy")]
            assert steps == list(range(1, SMOKE.importance.epochs + 1)) or t.info.status == "FAILED"

    again = run_importance(SMOKE, 0)
    rerun = _latest_study(client)
    assert rerun.info.run_id == study.info.run_id and rerun.data.tags["resumptions"] == "1"  # continued
    datasets = _children(client, rerun)
    assert len(datasets) == 2
    for d in datasets:
        assert d.data.metrics["n_recorded_jobs"] == SMOKE.importance.trainings  # nothing trained again
        trials = _children(client, d)
        assert len(trials) == SMOKE.importance.trainings  # and no run added
        assert all(len(client.get_metric_history(t.info.run_id, "val_accuracy")) == SMOKE.importance.epochs
                   for t in trials if t.info.status == "FINISHED")
    for label, result in results.items():
        assert again[label].individual.equals(result.individual)
    assert {name: rerun.data.metrics[f"importance_{name}"] for name in NAMES} == pooled


@pytest.mark.slow
def test_too_few_trainings_end_with_a_clear_error_and_keep_the_trials(smoke_prepared, client):
    profile = _smoke_with("trainings: 6", "trainings: 2")
    with pytest.raises(UserError, match=r"fANOVA could not run for digits: .*at least 3"):
        run_importance(profile, 0, ["digits"])
    study = _latest_study(client)
    assert study.info.status == "FAILED" and "fANOVA could not run" in study.data.tags["error"]
    [dataset] = _children(client, study)
    trials = _children(client, dataset)
    assert len(trials) == 2 and all(t.info.status == "FINISHED" for t in trials)


@pytest.mark.slow
def test_every_training_failing_ends_with_a_clear_error(smoke_prepared, client):
    # SGD at a learning rate of 1e10 or more through backbone layers: a NaN loss in the first epoch.
    # A profile takes at most 10 (where trials only stall), so the space is set past its checks,
    # with a checksum of its own: its own study.
    initial = SMOKE.space.initial.model_copy(update={
        "learning_rate": SMOKE.space.initial.learning_rate.model_copy(update={"low": 1.0e10, "high": 1.0e12}),
        "optimizer": ["sgd"], "fine_tuned_layers": [9, 14, 18, 42]})
    profile = SMOKE.model_copy(update={"space": SMOKE.space.model_copy(update={"initial": initial}),
                                       "checksum": "smoke with a diverging initial space"})
    n = profile.importance.trainings
    with pytest.raises(UserError, match=rf"^every trial of importance on digits failed \({n} of {n}; the first: "
                                        r"TrainingDiverged: .*\): fix that, then rerun with --restart$"):
        run_importance(profile, 0, ["digits"])
    [dataset] = _children(client, _latest_study(client))
    assert dataset.data.metrics["n_failed"] == profile.importance.trainings
    trials = _children(client, dataset)
    assert all(t.info.status == "FAILED" and "TrainingDiverged" in t.data.tags["error"] for t in trials)
