import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

from hpo.data import load, mio_tcd
from hpo.data.mio_tcd import CLASS_NAMES, list_images, load_mio_tcd
from hpo.errors import UserError


def _colour(label):
    return (20 * label + 10, 250 - 20 * label, 120)


def _fake_mio(parent, per_class=2, gt=True):
    """MIO-TCD-Classification/: train/<class>/<8-digit id>.jpg, gt_train.csv (`id,label`, no
    header) and an unlabelled test/. Returns the root and the labels in loading order."""
    root = parent / "MIO-TCD-Classification"
    rows, labels, next_id = [], [], 0
    for label, name in enumerate(CLASS_NAMES):
        (root / "train" / name).mkdir(parents=True)
        for k in range(per_class):
            image_id = f"{next_id:08d}"
            next_id += 1
            image = Image.new("RGB", (20 + 7 * k, 15 + 3 * label), _colour(label))  # varying sizes
            image.save(root / "train" / name / f"{image_id}.jpg")
            rows.append(f"{image_id},{name}")
            labels.append(label)
    (root / "test").mkdir()
    Image.new("RGB", (9, 9)).save(root / "test" / "00900000.jpg")
    if gt:
        (root / "gt_train.csv").write_text("\n".join(rows) + "\n")
    return root, labels


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(mio_tcd, "SIZE", 12)


@pytest.mark.parametrize("given", ["root", "parent", "tar"])
def test_reads_the_folder_or_archive(tmp_path, small, given):
    root, labels = _fake_mio(tmp_path)
    path = {"root": root, "parent": tmp_path}.get(given)
    if given == "tar":
        path = tmp_path / "MIO-TCD-Classification.tar"
        with tarfile.open(path, "w") as tar:
            tar.add(root, arcname=root.name)
        shutil.rmtree(root)
    data = load("mio_tcd", str(path))
    assert data.images.shape == (22, 12, 12, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and data.labels.tolist() == labels
    assert data.class_names == CLASS_NAMES and len(CLASS_NAMES) == 11
    for image, label in zip(data.images, labels):
        assert np.abs(image.astype(int) - _colour(label)).max() <= 8


def test_default_size_and_list_without_decoding(tmp_path):
    root, labels = _fake_mio(tmp_path, per_class=1)
    assert mio_tcd.SIZE == 256
    assert load_mio_tcd(str(root)).images.shape == (11, 256, 256, 3)
    files, listed = list_images(str(root))
    assert listed.tolist() == labels and files[3].parent.name == "bus" and files[3].name == "00000003.jpg"


def test_works_without_gt_and_accepts_a_header(tmp_path, small):
    root, labels = _fake_mio(tmp_path, gt=False)
    assert load("mio_tcd", str(root)).labels.tolist() == labels
    root, labels = _fake_mio(tmp_path / "h")
    (root / "gt_train.csv").write_text("image_id,label\n" + (root / "gt_train.csv").read_text())
    assert load("mio_tcd", str(root)).labels.tolist() == labels


def test_gt_disagreeing_with_folders_is_refused(tmp_path, small):
    root, _ = _fake_mio(tmp_path)
    gt = root / "gt_train.csv"
    original = gt.read_text()
    gt.write_text(original.replace("00000004,bicycle", "00000004,bus"))
    with pytest.raises(UserError, match="00000004.jpg is in folder bicycle but gt_train.csv says bus"):
        load("mio_tcd", str(root))
    gt.write_text(original + "00777777,car\n")
    with pytest.raises(UserError, match="lists 1 images missing from the folders, e.g. 00777777"):
        load("mio_tcd", str(root))
    gt.write_text(original.replace("00000004,bicycle\n", ""))
    with pytest.raises(UserError, match="00000004.jpg is in folder bicycle but gt_train.csv does not list it"):
        load("mio_tcd", str(root))


def test_missing_or_empty_class_folder_is_named(tmp_path, small):
    root, _ = _fake_mio(tmp_path, gt=False)
    shutil.rmtree(root / "train" / "pedestrian")
    with pytest.raises(UserError, match=r"class folder .*train/pedestrian is missing: download MIO-TCD"):
        load("mio_tcd", str(root))
    (root / "train" / "pedestrian").mkdir()
    with pytest.raises(UserError, match=r"class folder .*train/pedestrian has no \.jpg images"):
        load("mio_tcd", str(root))


def test_missing_dataset_says_where_to_download(tmp_path):
    with pytest.raises(UserError, match="not found: download MIO-TCD-Classification from http://tcd.miovision.com"):
        load("mio_tcd", str(tmp_path / "none"))
    with pytest.raises(UserError, match="no train/ folder in"):
        load("mio_tcd", str(tmp_path))
    with pytest.raises(UserError, match="needs a path"):
        load("mio_tcd", None)


def test_corrupt_jpeg_is_named(tmp_path, small):
    root, _ = _fake_mio(tmp_path)
    bad = root / "train" / "work_van" / "00000021.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(UserError, match="work_van/00000021.jpg is not a readable image"):
        load("mio_tcd", str(root))
