"""The paper profile's code path (profiles/paper.yaml: Xception, Table 1's datasets and splits)
on miniature archives in the original formats, with Table 1's sizes scaled down."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from hpo.data import mio_tcd, stanford_dogs
from hpo.data.mio_tcd import CLASS_NAMES as MIO_CLASSES
from hpo.profiles import load_profile
from hpo.studies.prepare import run_prepare
from tests.data import miniatures

# MIO-TCD's imbalance in miniature: class sizes from 7 to 60, as Table 1's 1,751 to 260,518.
MIO_COUNTS = [7, 30, 7, 8, 60, 7, 7, 8, 15, 9, 7]


def paper_scaled(folder, datasets=("cifar100", "stanford_dogs", "mio_tcd")):
    """profiles/paper.yaml with the miniatures' paths, Table 1's sizes scaled down in Table 1's
    ratios, and Xception without ImageNet weights (they cannot be downloaded here)."""
    cifar, _ = miniatures.cifar100(folder, n_train=10, n_test=2, per_class=True)  # 5 classes x 12
    miniatures.stanford_dogs(folder / "dogs", per_class=(8, 8, 7))  # all 23 used, as all 20,580
    mio_root, _ = miniatures.mio_tcd(folder, per_class=MIO_COUNTS)  # 165 labelled images
    profile = yaml.safe_load(Path(load_profile("paper").source_file).read_text())
    # train / val / test per class in the paper: 40,000 / 10,000 / 100; 15,504 / 3,876 / 10; 11,000 / 2,750 / 500
    sizes = {
        "cifar100": {"path": str(cifar), "train": 40, "val": 10, "test_per_class": 2},
        "stanford_dogs": {"path": str(folder / "dogs"), "train": 16, "val": 4, "test_per_class": 1},
        "mio_tcd": {"path": str(mio_root), "train": 44, "val": 11, "test_per_class": 1},
    }
    profile["datasets"]["targets"] = [{**t, **sizes[t["name"]]} for t in profile["datasets"]["targets"]
                                      if t["name"] in datasets]
    profile["backbone"]["weights"] = "none"
    if "mio_tcd" in datasets:  # 410,931 / 102,733 of the rest; subsets 11,000 / 2,750
        profile["subset"].update({"whole": {"train": 123, "val": 31}, "train": 44, "val": 11})
    else:
        del profile["subset"]
    path = folder / "paper-scaled.yaml"
    path.write_text(yaml.safe_dump(profile))
    return load_profile(str(path))


@pytest.fixture
def small_images(monkeypatch):
    # Stanford Dogs and MIO-TCD are stored at the paper's 256 px; a smaller size keeps this quick.
    monkeypatch.setattr(stanford_dogs, "SIZE", 24)
    monkeypatch.setattr(mio_tcd, "SIZE", 24)


def test_prepare_makes_table_1s_splits_and_subsets(tmp_path, small_images, monkeypatch):
    profile = paper_scaled(tmp_path)
    assert profile.name == "paper" and profile.backbone.name == "xception"
    monkeypatch.setenv("HPO_PREPARED_DIR", str(tmp_path / "prepared"))
    manifest = run_prepare(profile, seed=0)
    sets = manifest["datasets"]
    assert (sets["cifar100"]["train"], sets["cifar100"]["val"], sets["cifar100"]["test"]) == (40, 10, 10)
    assert sets["cifar100"]["test_class_counts"] == [2] * 5
    assert sets["cifar100"]["class_names"] == ["apple", "aquarium_fish", "baby", "bear", "beaver"]
    assert (sets["stanford_dogs"]["train"], sets["stanford_dogs"]["val"], sets["stanford_dogs"]["test"]) == (16, 4, 3)
    assert sets["stanford_dogs"]["test_class_counts"] == [1, 1, 1]
    assert sets["stanford_dogs"]["class_names"] == ["Chihuahua", "Japanese_spaniel", "Maltese_dog"]
    assert (sets["mio_tcd"]["train"], sets["mio_tcd"]["val"], sets["mio_tcd"]["test"]) == (44, 11, 11)
    assert sets["mio_tcd"]["test_class_counts"] == [1] * 11 and sets["mio_tcd"]["class_names"] == list(MIO_CLASSES)

    subsets = manifest["subsets"]["sets"]
    assert manifest["subsets"]["dataset"] == "mio_tcd"
    balanced, imbalanced = subsets["balanced"], subsets["imbalanced"]
    assert balanced["train_class_counts"] == [4] * 11 and balanced["val_class_counts"] == [1] * 11
    assert imbalanced["train"] == 44 and imbalanced["val"] == 11
    assert np.argmax(imbalanced["train_class_counts"]) == MIO_COUNTS.index(max(MIO_COUNTS))  # car, as in MIO-TCD
    assert (subsets["whole"]["train"], subsets["whole"]["val"]) == (123, 31)  # every image outside the test set
    assert subsets["imbalanced_augmented"]["train"] == 4 * 44
    for described in subsets.values():
        assert described["test_class_counts"] == [1] * 11  # the target's balanced test set

    monkeypatch.setenv("HPO_PREPARED_DIR", str(tmp_path / "again"))
    assert run_prepare(profile, seed=0)["data_checksum"] == manifest["data_checksum"]
    monkeypatch.setenv("HPO_PREPARED_DIR", str(tmp_path / "other-seed"))
    assert run_prepare(profile, seed=1)["data_checksum"] != manifest["data_checksum"]


def _hpo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "hpo", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.slow
def test_an_xception_trial_on_a_cifar100_archive(tmp_path, client):
    profile = paper_scaled(tmp_path, datasets=("cifar100",))
    done = _hpo("prepare", "--profile", profile.argument)
    assert done.returncode == 0, done.stderr
    done = _hpo("train", "--profile", profile.argument, "--dataset", "cifar100", "--input-size", "71",
                "--fine-tuned-layers", "9", "--optimizer", "sgd", "--epochs", "1")
    assert done.returncode == 0, done.stderr
    run = client.search_runs([client.get_experiment_by_name("train").experiment_id],
                             f"tags.profile_file = '{profile.argument}'")[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["input_size"] == "71" and run.data.params["batch_size"] == "16"  # Table 2B's batch
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1]
    assert 0 <= run.data.metrics["test_accuracy"] <= 1
