import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo import tracking
from hpo.errors import UserError
from hpo.profiles import load_profile, parse_profile
from hpo.search import registry
from hpo.studies.compare import run_compare
from hpo.studies.searching import check_request

ROOT = Path(__file__).resolve().parents[2]
SMOKE = load_profile("smoke")


@pytest.mark.parametrize("methods,budget,message", [
    (["grid", "hillclimb"], 16, "unknown method 'hillclimb': choose from grid, random, tpe, asha, hyperband, "),
    (["grid"], 0, "budget must be at least 1 epoch"),
    (["grid"], 3, "budget 3 cannot pay grid's first job of 4 epochs"),
    (["hyperband"], 16, None),
])
def test_bad_request_is_refused(methods, budget, message):
    if message is None:
        check_request(SMOKE, ["fashion"], methods, budget)  # a good one passes
        return
    with pytest.raises(UserError, match=message):
        check_request(SMOKE, ["fashion"], methods, budget)


def test_budget_smaller_than_r_is_refused():
    text = open(SMOKE.source_file).read().replace("  r: 1\n", "  r: 2\n")
    profile = parse_profile(text, "r2.yaml")
    with pytest.raises(UserError, match="budget 1 cannot pay asha's first job of 2 epochs"):
        check_request(profile, ["fashion"], ["asha"], 1)


def test_unknown_dataset_is_refused():
    with pytest.raises(UserError, match="dataset 'cifar100' is not in profile smoke"):
        check_request(SMOKE, ["cifar100"], ["asha"], 16)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hpo", *args], capture_output=True, text=True, env=os.environ,
                          timeout=600)


def test_cli_bad_method_fails_before_any_run(client):
    done = _cli("compare", "--profile", "smoke", "--methods", "grid,hillclimb")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"hpo compare: error: unknown method 'hillclimb': choose from {', '.join(registry.names())}, or all"]
    assert client.get_experiment_by_name("compare") is None or not client.search_runs(
        [client.get_experiment_by_name("compare").experiment_id], "tags.methods = 'grid,hillclimb'")


def _children(client, parent_id):
    run = client.get_run(parent_id)
    return client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")


@pytest.mark.slow
def test_mlflow_run_compare_budgets_add_up(smoke_prepared, client):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_EXPERIMENT")}
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    done = subprocess.run([sys.executable, "-m", "mlflow", "run", str(ROOT), "-e", "compare", "--env-manager", "local",
                           "--experiment-name", "project-compare", "-P", "profile=smoke", "-P", "datasets=digits"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Table 6 analogue" in done.stdout and "[digits asha] trial 0 rung 0 epochs 0->1" in done.stdout
    exp = client.get_experiment_by_name("project-compare")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # the experiment `mlflow run` made
    [study] = client.search_runs([exp.experiment_id], "tags.stage = 'compare'")
    assert study.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(study.info.run_id)}
    assert {"table6.md", "table6.csv"} <= artifacts
    methods = _children(client, study.info.run_id)
    assert sorted(r.data.tags["method"] for r in methods) == ["asha", "grid", "random", "tpe"]
    for method in methods:
        used = method.data.metrics["budget_used_epochs"]
        trials = _children(client, method.info.run_id)
        logged = sum(len(client.get_metric_history(t.info.run_id, "val_accuracy")) for t in trials)
        assert used == logged <= SMOKE.budget.epochs, method.data.tags["method"]
        assert method.data.metrics["n_trials"] == len(trials)
        best = max(t.data.metrics["val_accuracy"] for t in trials if "val_accuracy" in t.data.metrics)
        assert method.data.metrics["best_val_accuracy"] >= best - 1e-9
        for t in trials:
            assert t.info.status == "FINISHED" and "status" not in t.data.tags
            steps = [m.step for m in client.get_metric_history(t.info.run_id, "val_accuracy")]
            assert steps == list(range(1, len(steps) + 1))  # ASHA promotions continue the same curve
    asha = next(r for r in methods if r.data.tags["method"] == "asha")
    assert {t.data.tags["rung"] for t in _children(client, asha.info.run_id)} >= {"0", "2"}


@pytest.mark.slow
def test_a_diverging_trial_is_failed_and_the_study_goes_on(smoke_prepared, client):
    # a learning rate far above what a profile accepts (at most 10: its trials would only stall),
    # set past the profile's checks so that its trials really diverge; a checksum of its own: its own study
    grid = SMOKE.space.grid.model_copy(update={"learning_rate": [0.001, 1.0e12]})
    profile = SMOKE.model_copy(update={"space": SMOKE.space.model_copy(update={"grid": grid}),
                                       "checksum": "smoke with a diverging grid"})
    assert profile.prepare_checksum == SMOKE.prepare_checksum  # only the grid differs: no new prepare
    [result] = run_compare(profile, 0, ["digits"], ["grid"])
    assert result.n_trials == 4 and result.n_failed == 2 and result.best_val > 0.1
    study = client.search_runs([client.get_experiment_by_name("compare").experiment_id], "tags.stage = 'compare'",
                               order_by=["attributes.start_time DESC"])[0]
    [method] = _children(client, study.info.run_id)
    failed = [t for t in _children(client, method.info.run_id) if t.info.status == "FAILED"]
    assert len(failed) == 2 and all("TrainingDiverged" in t.data.tags["error"] for t in failed)
    assert result.budget_used == 8 + 2  # the diverging epoch was trained, so it is charged
    assert method.data.metrics["budget_used_epochs"] == sum(
        len(client.get_metric_history(t.info.run_id, "val_accuracy")) for t in _children(client, method.info.run_id))


@pytest.mark.slow
def test_sigterm_ends_the_study_and_its_open_runs_killed(smoke_prepared, client):
    """`kill`, a job scheduler or a cancelled CI job sends SIGTERM: no run may stay RUNNING."""
    before = {r.info.run_id for r in _compare_runs(client)}
    # a budget far above the smoke grid's 16 epochs and a new study run: still training when the signal comes
    study = subprocess.Popen([sys.executable, "-m", "hpo", "compare", "--profile", "smoke", "--datasets", "fashion",
                              "--methods", "random", "--budget", "2000", "--restart"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=os.environ)
    deadline = time.monotonic() + 300
    while not any(r.info.status == "RUNNING" and r.data.tags.get("trial") for r in _compare_runs(client)):
        assert study.poll() is None and time.monotonic() < deadline, "no trial started"
        time.sleep(0.5)
    study.send_signal(signal.SIGTERM)
    stderr = study.communicate(timeout=120)[1]
    assert study.returncode == 143 and stderr.strip().splitlines()[-1] == "hpo compare: terminated", stderr
    runs = [r for r in _compare_runs(client) if r.info.run_id not in before]
    assert runs and all(r.info.status == "KILLED" for r in runs if r.info.status != "FINISHED")
    assert {bool(r.data.tags.get("trial")) for r in runs if r.info.status == "KILLED"} == {True, False}


def _compare_runs(client):
    experiment = client.get_experiment_by_name("compare")
    return client.search_runs([experiment.experiment_id], max_results=5000) if experiment else []


@pytest.mark.slow
def test_a_rerun_continues_the_study_and_restart_begins_a_new_one(smoke_prepared, client):
    """A finished study run again is reopened and every job is read back (also under `mlflow
    run`, whose own run is then left empty and points at the study); --restart trains anew."""
    first = run_compare(SMOKE, 0, ["digits"], ["grid", "asha"], budget=8, restart=True)
    [study] = _studies(client, "digits", "grid,asha", "8")
    trials_before = {t.info.run_id for m in _children(client, study.info.run_id)
                     for t in _children(client, m.info.run_id)}

    entry = client.create_run(study.info.experiment_id, run_name="as mlflow run makes it")
    os.environ["MLFLOW_RUN_ID"] = entry.info.run_id
    try:
        again = run_compare(SMOKE, 0, ["digits"], ["grid", "asha"], budget=8)
    finally:
        os.environ.pop("MLFLOW_RUN_ID", None)
        client.set_terminated(entry.info.run_id)  # as `mlflow run` does when its command exits
    assert [(r.best_val, r.best_test, r.budget_used, r.n_trials) for r in again] == [
        (r.best_val, r.best_test, r.budget_used, r.n_trials) for r in first]
    [same] = _studies(client, "digits", "grid,asha", "8")
    assert same.info.run_id == study.info.run_id and same.data.tags["resumptions"] == "1"
    assert client.get_run(entry.info.run_id).data.tags["continues_study"] == study.info.run_id
    methods = _children(client, study.info.run_id)
    assert len(methods) == 2 and all(m.data.metrics["n_recorded_jobs"] == _jobs(client, m) for m in methods)
    assert {t.info.run_id for m in methods for t in _children(client, m.info.run_id)} == trials_before

    run_compare(SMOKE, 0, ["digits"], ["grid", "asha"], budget=8, restart=True)
    assert len(_studies(client, "digits", "grid,asha", "8")) == 2


def _studies(client, datasets, methods, budget):
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, f"tags.stage = 'compare' and tags.datasets = '{datasets}' and "
                                           f"tags.methods = '{methods}' and tags.budget_epochs = '{budget}'")


def _jobs(client, method_run):
    """The jobs a method ran: each logs its last epoch as `epochs` when it ends."""
    trials = _children(client, method_run.info.run_id)
    return sum(len(client.get_metric_history(t.info.run_id, "epochs")) for t in trials)


@pytest.mark.slow
def test_repetitions_search_again_on_the_same_data(smoke_prepared, client, tmp_path):
    from hpo.cli import main

    argv = ["compare", "--profile", "smoke", "--datasets", "digits", "--methods", "random", "--budget", "8"]
    assert main([*argv, "--repetitions", "2"]) == 0
    studies = {s.data.tags.get("search_seed"): s for s in _compare_runs(client)
               if s.data.tags.get("stage") == "compare" and s.data.tags.get("methods") == "random"
               and s.data.tags.get("budget_epochs") == "8"}
    first, second = studies["0"], studies["1"]
    assert first.info.status == second.info.status == "FINISHED" and first.info.run_id != second.info.run_id
    assert first.data.tags["data_checksum"] == second.data.tags["data_checksum"]  # the same prepared data
    names = (first.data.tags["study"], second.data.tags["study"])
    assert names == ("compare-smoke-seed0", "compare-smoke-seed0-search1")
    assert first.data.tags[tracking.STUDY_KEY] != second.data.tags[tracking.STUDY_KEY]

    def configurations(study):
        [method] = _children(client, study.info.run_id)
        return sorted(tuple(sorted(t.data.params.items())) for t in _children(client, method.info.run_id))

    assert configurations(first) != configurations(second)  # other draws
    assert main([*argv, "--search-seeds", "1"]) == 0  # repetition 1 alone: continued, nothing trained
    again = client.get_run(second.info.run_id)
    assert again.data.tags["resumptions"] == "1" and configurations(again) == configurations(second)
    from hpo.studies.report import run_report
    run_report("smoke", 0, [second.info.run_id], tmp_path, uri=client.tracking_uri)  # its repetitions: both
    rows = (tmp_path / "tables" / "repetitions.csv").read_text().splitlines()
    assert [row.split(",")[:4] for row in rows[1:]] == [["digits", "random", share, n]
                                                        for share, n in (("0.25", "0"), ("0.5", "2"), ("1", "2"))]
