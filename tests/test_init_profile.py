import os
import subprocess
import sys

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from hpo.errors import UserError
from hpo.init_profile import init_profile, scaled_layers, split_sizes
from hpo.profiles import load_profile
from tests.data.image_tree import make_tree


def test_the_papers_layers_scale_with_the_backbones_depth():
    assert scaled_layers(132) == [9, 14, 18, 132]  # Xception: the paper's own
    assert scaled_layers(154) == [10, 16, 21, 154]  # MobileNetV2
    assert scaled_layers(19) == [1, 2, 3, 19]  # VGG16


def test_split_sizes_give_a_balanced_test_set_and_a_fifth_to_validate():
    train, val, test = split_sizes(np.array([100, 40, 2000]), ("a", "b", "c"))
    assert test == 8 and val == round((2140 - 24) / 5) and train + val + 3 * test == 2140
    assert split_sizes(np.array([3, 3]), ("a", "b")) == (2, 2, 1)
    assert split_sizes(np.array([5000] * 4), tuple("abcd"))[2] == 200  # at most 200 test images per class
    with pytest.raises(UserError, match="class 'b' has 2 image"):
        split_sizes(np.array([10, 2]), ("a", "b"))


def test_init_writes_a_profile_the_loader_takes(tmp_path):
    folder = make_tree(tmp_path / "my photos", {"cat": 20, "dog": 15})
    path = init_profile(str(folder), str(tmp_path / "mine.yaml"), backbone="ResNet50", input_size=64)
    profile = load_profile(str(path))
    [target] = profile.datasets.targets
    assert (profile.name, target.name, target.format) == ("my_photos", "my_photos", "image_folder")
    assert target.image_size == 64
    assert target.path == str(folder.resolve()) and target.test_per_class == 3
    assert target.train + target.val == 35 - 6
    assert profile.backbone.name == "ResNet50" and profile.backbone.weights == "imagenet"
    assert profile.space.applied.fine_tuned_layers == [12, 19, 24, 175] and profile.space.applied.input_size == [64]
    assert profile.space.initial.input_size == [32, 48, 64] and profile.budget.epochs == 400
    with pytest.raises(UserError, match="mine.yaml exists: give another --out, or --force"):
        init_profile(str(folder), str(tmp_path / "mine.yaml"))
    with pytest.raises(UserError, match="--input-size 64 is below the InceptionV3 minimum of 75"):
        init_profile(str(folder), str(tmp_path / "other.yaml"), backbone="InceptionV3", input_size=64)
    with pytest.raises(UserError, match="--backbone 'compact'"):
        init_profile(str(folder), str(tmp_path / "other.yaml"), backbone="compact")


def test_init_says_when_the_imagenet_weights_are_not_in_keras_cache(tmp_path, monkeypatch, capsys):
    from hpo.cli import main

    folder = make_tree(tmp_path / "photos", {"cat": 12, "dog": 12})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert main(["init", str(folder), "--out", str(tmp_path / "a.yaml"), "--backbone", "MobileNetV2"]) == 0
    out = capsys.readouterr().out
    assert "note: MobileNetV2's ImageNet weights are not in Keras' cache" in out
    assert "keras.applications.MobileNetV2(include_top=False)" in out
    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)  # the file Keras writes for MobileNetV2 without its top
    (cache / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5").write_bytes(b"")
    assert main(["init", str(folder), "--out", str(tmp_path / "b.yaml"), "--backbone", "MobileNetV2"]) == 0
    assert "note:" not in capsys.readouterr().out
    assert main(["init", str(folder), "--out", str(tmp_path / "c.yaml"), "--backbone", "MobileNetV3Small"]) == 0
    assert "note: MobileNetV3Small's ImageNet weights" in capsys.readouterr().out
    assert main(["init", str(folder), "--out", str(tmp_path / "d.yaml"), "--weights", "none"]) == 0
    assert "note:" not in capsys.readouterr().out


@pytest.mark.slow
def test_from_a_folder_of_images_to_table_6_with_a_keras_applications_backbone(tmp_path):
    """`hpo init`, `prepare` and a smoke-sized `compare` (the budget shrunk in the profile, as a
    user may) with MobileNetV2 built with weights=None at its minimum input size."""
    make_tree(tmp_path / "photos", {"cat": 16, "dog": 12, "owl": 10})
    (tmp_path / "photos" / "owl" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "HPO_PREPARED_DIR": str(tmp_path / "prepared"), "HPO_CHECKPOINT_DIR": str(tmp_path / "checkpoints")}

    def hpo(*args):
        return subprocess.run([sys.executable, "-m", "hpo", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=600)

    done = hpo("init", "photos", "--backbone", "MobileNetV2", "--weights", "none", "--input-size", "32")
    assert done.returncode == 0 and "hpo prepare --profile ./photos.yaml" in done.stdout, done.stderr
    profile = tmp_path / "photos.yaml"
    text = profile.read_text()
    assert "skip_unreadable: true   # 1 file(s) could not be read" in text and "(cat 16, dog 12, owl 10)" in text
    text = text.replace("epochs_per_configuration: 25", "epochs_per_configuration: 2")
    profile.write_text(text.replace("  R: 16", "  R: 4"))
    prepared = hpo("prepare", "--profile", "./photos.yaml")
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert "1 unreadable image(s) skipped" in prepared.stdout and "4 file(s) that are not images" in prepared.stdout
    compared = hpo("compare", "--profile", "./photos.yaml", "--methods", "grid,asha", "--budget", "8")
    assert compared.returncode == 0, compared.stderr[-2000:]
    assert "| photos    |" in compared.stdout  # Table 6's row
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    [study] = client.search_runs([client.get_experiment_by_name("compare").experiment_id], "tags.stage = 'compare'")
    assert study.info.status == "FINISHED" and study.data.tags["profile"] == "photos"
    table = open(client.download_artifacts(study.info.run_id, "table6.md")).read()
    assert "grid val" in table and "asha val" in table
