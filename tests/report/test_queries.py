"""Reading study runs back from a tracking store (tests/report/store.py builds it)."""

import time

import pytest

from hpo.errors import UserError
from hpo.report import tables
from hpo.report.importance import read_marginals
from hpo.report.queries import TrackingReader
from hpo.report.selection import find_studies, load_compare, load_importance
from tests.mlflow_server import free_port
from tests.report.store import BEST_B, shared


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def reader(store):
    return TrackingReader(store.uri)


def test_the_latest_finished_study_of_any_experiment_is_chosen(store, reader):
    found, profile, seed = find_studies(reader, "smoke", 0, [])
    compare = found["compare"]
    assert compare.run.run_id == store.runs["B"]  # in Default, newer than A; C is newer but RUNNING
    assert [r.run_id for r in compare.passed_over] == [store.runs["C"]] and compare.how == "latest FINISHED"
    assert found["importance"].run.run_id == store.runs["importance"]
    assert found["subset"].run is None and "no FINISHED study run with stage=subset, profile=smoke, seed=0" in \
        found["subset"].how
    assert (profile, seed) == ("smoke", 0)


def test_without_a_seed_the_latest_of_any_seed(store, reader):
    found, _, _ = find_studies(reader, "smoke", None, [])
    assert found["compare"].run.run_id == store.runs["seed1"]
    assert find_studies(reader, "embedded", None, [])[0]["compare"].run is None


def test_a_given_study_fixes_its_stage_and_the_profile_and_seed_of_the_others(store, reader):
    found, profile, seed = find_studies(reader, "embedded", None, [store.runs["A"]])
    assert found["compare"].run.run_id == store.runs["A"] and found["compare"].how == "given by --study"
    assert (profile, seed) == ("smoke", 0) and found["importance"].run.run_id == store.runs["importance"]


@pytest.mark.parametrize("which,message", [
    ("missing", "no run 0123456789abcdef0123456789abcdef on the tracking server sqlite:///"),
    ("train", "is a train run: give the id of a prepare, importance, compare, subset study run"),
    ("twice", "are both compare studies: give one"),
])
def test_a_bad_study_id_is_one_clear_line(store, reader, which, message):
    ids = {"missing": ["0123456789abcdef0123456789abcdef"], "train": [store.runs["train"]],
           "twice": [store.runs["A"], store.runs["B"]]}[which]
    with pytest.raises(UserError, match=message):
        find_studies(reader, "smoke", 0, ids)


def test_the_compare_tree_with_histories(store, reader):
    study = reader.run(store.runs["B"])
    load_compare(reader, study)
    assert sorted((c.tags["dataset"], c.tags["method"]) for c in study.children) == sorted(BEST_B)
    asha = next(c for c in study.children if c.tags["method"] == "asha")
    assert [t.tags["trial"] for t in asha.children] == ["0", "1", "2"]
    best = next(t for t in asha.children if t.tags["trial"] == "1")
    assert [p.step for p in best.histories["val_accuracy"]] == [1, 2]
    assert set(best.histories) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "epochs"}
    assert [p.value for p in best.histories["epochs"]] == [1, 2]  # one job end per rung
    assert set(asha.children[0].histories) == {"val_accuracy", "epochs"}  # only the best trial's curves are read
    for method_run in study.children:
        _, _, value = tables.best_point(method_run)
        assert value == method_run.metrics["best_val_accuracy"]


def test_artifacts_are_fetched_through_the_store(store, reader):
    study = reader.run(store.runs["importance"])
    artifacts = load_importance(reader, study)
    assert artifacts["table5_pairs.csv"].startswith("dataset,set 1,set 1 importance,set 2,set 2 importance\n")
    assert list(read_marginals(artifacts["marginals.json"])) == ["fashion", "digits", "all datasets"]
    assert reader.artifact_text(study.run_id, "no_such.csv") is None


def test_links_have_the_mlflow_ui_form(store, reader):
    study = reader.run(store.runs["A"])
    assert reader.link(study) == (f"http://127.0.0.1:5000/#/experiments/{study.experiment_id}/runs/{study.run_id}"
                                  "?workflowType=machine_learning")


def test_a_server_that_is_down_is_one_line_at_once():
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.perf_counter()
    with pytest.raises(UserError, match=rf"cannot use the tracking store {uri} \(nothing answers there\): start its "
                                        "server"):
        TrackingReader(uri)
    assert time.perf_counter() - started < 10


def test_a_missing_sqlite_store_is_refused_not_created(tmp_path):
    with pytest.raises(UserError, match="no tracking store at sqlite:///.*: run a stage first"):
        TrackingReader(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()
