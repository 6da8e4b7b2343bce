"""The embedded default at its real size, prepared once for the module (slow: ~2 minutes): a
brief fine-tuning beats chance, and the table the suite ships for it belongs to this profile and
this data and replays a live grid search exactly."""

import pytest

from hpo import recorded
from hpo.profiles import load_profile
from hpo.studies.compare import run_compare
from hpo.studies.prepare import run_prepare
from hpo.studies.replay import run_replay
from hpo.studies.train import default_config, run_train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded():
    """The embedded profile prepared with seed 0: (profile, manifest)."""
    profile = load_profile("embedded")
    return profile, run_prepare(profile, seed=0)


def test_short_embedded_trial_clearly_beats_chance(embedded):
    profile, manifest = embedded
    assert manifest["datasets"]["fashion"]["test"] >= 1000 and manifest["datasets"]["fashion"]["train"] >= 1000
    assert manifest["backbone"]["source_test_accuracy"] > 0.8  # five source classes: chance is 0.2
    result = run_train(profile, 0, "fashion", default_config(profile, fine_tuned_layers=9), epochs=2)
    assert result.val_accuracy > 0.6  # five target classes: chance is 0.2


def test_the_shipped_table_is_of_this_profile_and_data(embedded):
    """A change of the profile or of its prepared data is noticed here: record the table again."""
    profile, manifest = embedded
    table = recorded.load(recorded.shipped("embedded", 0))
    assert table.provenance["profile_checksum"] == profile.checksum, \
        "profiles/embedded.yaml changed since the shipped table was recorded: hpo record it again"
    assert table.provenance["data_checksum"] == manifest["data_checksum"], \
        "the embedded profile's prepared data changed since the shipped table was recorded: hpo record it again"
    assert table.provenance["seed"] == 0 and set(table.datasets) == {t.name for t in profile.datasets.targets}
    design = recorded.design(profile, 0)  # at least 128 configurations, the grid's trained 3 times
    assert len({str(c) for _, c in design}) >= 128 and profile.record.grid_seeds >= 3
    for points in table.datasets.values():
        assert [p.config for p in points] == [c for _, c in design]
        assert all(p.trained == recorded.epochs(profile) and p.error is None for p in points)


def test_replayed_grid_search_of_the_recording_seed_equals_the_live_one(embedded, tmp_path, monkeypatch):
    """At the budget of one grid point (the grid's first, trained as live grid search trains its
    trial 0); replay finds the shipped table by itself (no table recorded in this folder). In a
    store of its own: other tests count the studies of the session's store."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    profile, _ = embedded
    budget = profile.budget.epochs_per_configuration
    [live] = run_compare(profile, 0, ["fashion"], ["grid"], budget=budget, restart=True)
    monkeypatch.chdir(tmp_path)
    scores, _ = run_replay(profile, 0, [0], datasets=["fashion"], methods=["grid"], budget=budget)
    replayed = scores[scores["share"] == 1.0].iloc[0]
    assert (replayed["val"], replayed["test"]) == (live.best_val, live.best_test)
