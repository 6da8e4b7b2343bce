import shutil

import numpy as np
import pytest

from hpo.data.prepared import build_split, checksum, load_prepared, prepared_dir, require_prepared
from hpo.errors import UserError
from hpo.profiles import parse_profile
from hpo.studies.prepare import run_prepare

pytestmark = pytest.mark.slow


def test_manifest_describes_balanced_splits_and_the_backbone(smoke_prepared):
    profile, manifest = smoke_prepared
    assert set(manifest["datasets"]) == {"fashion", "digits"}
    fashion = manifest["datasets"]["fashion"]
    assert (fashion["train"], fashion["val"], fashion["test"]) == (200, 100, 100)
    assert fashion["test_class_counts"] == [20] * 5
    assert fashion["class_names"] == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert manifest["datasets"]["digits"]["test_class_counts"] == [10] * 10
    assert manifest["backbone"]["layers"] == 42 and 0 <= manifest["backbone"]["source_test_accuracy"] <= 1
    assert (prepared_dir(profile.name, 0) / "backbone.keras").is_file()


def test_splits_are_reproducible_and_checked(smoke_prepared):
    profile, manifest = smoke_prepared
    spec = profile.target("fashion")
    assert checksum(build_split(spec, 0)) == manifest["datasets"]["fashion"]["checksum"]
    assert checksum(build_split(spec, 1)) != manifest["datasets"]["fashion"]["checksum"]
    data, _ = load_prepared(profile, 0, "fashion")
    assert set(np.unique(data.y_test, return_counts=True)[1]) == {20}


def test_source_and_target_classes_do_not_overlap(smoke_prepared):
    profile, _ = smoke_prepared
    assert not set(profile.datasets.source.classes) & set(profile.target("fashion").classes)


def test_second_prepare_reuses_the_first(smoke_prepared, client):
    profile, manifest = smoke_prepared
    runs_before = len(client.search_runs([client.get_experiment_by_name("prepare").experiment_id]))
    assert run_prepare(profile, 0) == manifest
    assert len(client.search_runs([client.get_experiment_by_name("prepare").experiment_id])) == runs_before


def test_prepare_run_is_finished_with_provenance(smoke_prepared, client):
    _, manifest = smoke_prepared
    experiment = client.get_experiment_by_name("prepare")
    run = client.search_runs([experiment.experiment_id], "tags.profile = 'smoke'")[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["data_checksum"] == manifest["data_checksum"]
    assert run.data.tags["seed"] == "0" and len(run.data.tags["git_commit"]) >= 7
    assert "source_test_accuracy" in run.data.metrics


def test_a_changed_profile_needs_a_new_prepare(smoke_prepared):
    profile, _ = smoke_prepared
    changed = parse_profile(open(profile.source_file).read().replace("train: 200", "train: 150", 1), "changed.yaml")
    with pytest.raises(UserError, match="prepared from another version of profile smoke"):
        require_prepared(changed, 0)


def test_same_profile_and_seed_give_the_same_backbone(smoke_prepared, tmp_path, monkeypatch):
    from hpo.models import load_backbone

    profile, manifest = smoke_prepared
    first = load_backbone(prepared_dir(profile.name, 0) / "backbone.keras").get_weights()
    monkeypatch.setenv("HPO_PREPARED_DIR", str(tmp_path))
    again = run_prepare(profile, 0)
    assert again["data_checksum"] == manifest["data_checksum"]
    assert again["backbone"]["source_test_accuracy"] == manifest["backbone"]["source_test_accuracy"]
    second = load_backbone(prepared_dir(profile.name, 0) / "backbone.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def _rewrite_split(path, **arrays):
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    np.savez(path, **{**data, **arrays})


DAMAGE = {
    "truncated split": (lambda d: (d / "digits.npz").write_bytes((d / "digits.npz").read_bytes()[:5000]),
                        r"prepared split .*digits\.npz is unreadable \(.*\): run `hpo prepare --force`"),
    "garbage split": (lambda d: (d / "digits.npz").write_bytes(b"not a zip file" * 100),
                      r"prepared split .*digits\.npz is unreadable"),
    "labels out of range": (lambda d: _rewrite_split(d / "digits.npz", y_train=np.full(10, 99)),
                            r"is damaged \(train: images of shape .* and labels of shape \(10,\)\)"),
    "labels beyond the classes": (
        lambda d: _rewrite_split(d / "digits.npz", y_val=np.load(d / "digits.npz")["y_val"] + 10),
        r"digits\.npz is damaged \(val: labels outside 0\.\.9\): run `hpo prepare --force`"),
    "empty manifest": (lambda d: (d / "manifest.json").write_text(""),
                       r"the prepared folder .* is damaged \(manifest\.json: .*\): run `hpo prepare --force`"),
    "manifest not a mapping": (lambda d: (d / "manifest.json").write_text("[1, 2]"),
                               r"is damaged \(manifest\.json lacks \(not a mapping\)\)"),
    "truncated backbone": (lambda d: (d / "backbone.keras").write_bytes((d / "backbone.keras").read_bytes()[:3000]),
                           r"pretrained backbone .*backbone\.keras is damaged \(.*\): run `hpo prepare --force`"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_prepared_data_is_one_line_saying_to_prepare_again(case, smoke_prepared, tmp_path, monkeypatch):
    from hpo.models import load_backbone

    profile, _ = smoke_prepared
    copy = tmp_path / f"{profile.name}-seed0"
    shutil.copytree(prepared_dir(profile.name, 0), copy)
    monkeypatch.setenv("HPO_PREPARED_DIR", str(tmp_path))
    damage, message = DAMAGE[case]
    damage(copy)
    with pytest.raises(UserError, match=message) as e:
        load_prepared(profile, 0, "digits")
        load_backbone(copy / "backbone.keras")
    assert "\n" not in str(e.value)


def test_another_seeds_folder_is_refused_not_relabelled(smoke_prepared, tmp_path, monkeypatch, capsys, client):
    from hpo.cli import main

    profile, _ = smoke_prepared
    shutil.copytree(prepared_dir(profile.name, 0), tmp_path / f"{profile.name}-seed1")  # a copy of seed 0's folder
    monkeypatch.setenv("HPO_PREPARED_DIR", str(tmp_path))
    with pytest.raises(UserError, match=r"was prepared with seed 0, not 1: run `hpo prepare --profile smoke --seed 1 "
                                        r"--force`"):
        require_prepared(profile, 1)
    experiments = [e.experiment_id for e in client.search_experiments()]
    before = len(client.search_runs(experiments))
    assert main(["train", "--profile", "smoke", "--seed", "1", "--epochs", "1"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"hpo train: error: the data in {tmp_path / 'smoke-seed1'} was prepared with seed 0, not 1: "
        "run `hpo prepare --profile smoke --seed 1 --force`"]
    assert len(client.search_runs(experiments)) == before
