import shutil
import tarfile

import numpy as np
import pytest

from hpo.data import base, load, mio_tcd
from hpo.data.mio_tcd import CLASS_NAMES, list_images, load_mio_tcd
from hpo.errors import UserError
from tests.data import miniatures


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(mio_tcd, "SIZE", 12)


@pytest.mark.parametrize("given", ["root", "parent", "tar"])
def test_reads_the_folder_or_archive(tmp_path, small, given):
    root, labels = miniatures.mio_tcd(tmp_path)
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
    for image, label in zip(data.images, labels, strict=True):
        assert np.abs(image.astype(int) - miniatures.mio_colour(label)).max() <= 8


def test_default_size_and_list_without_decoding(tmp_path):
    root, labels = miniatures.mio_tcd(tmp_path, per_class=1)
    assert mio_tcd.SIZE == 256
    assert load_mio_tcd(str(root)).images.shape == (11, 256, 256, 3)
    files, listed = list_images(str(root))
    assert listed.tolist() == labels and files[3].parent.name == "bus" and files[3].name == "00000003.jpg"


def test_works_without_gt_and_accepts_a_header(tmp_path, small):
    root, labels = miniatures.mio_tcd(tmp_path, gt=False)
    assert load("mio_tcd", str(root)).labels.tolist() == labels
    root, labels = miniatures.mio_tcd(tmp_path / "h")
    (root / "gt_train.csv").write_text("image_id,label\n" + (root / "gt_train.csv").read_text())
    assert load("mio_tcd", str(root)).labels.tolist() == labels


def test_gt_disagreeing_with_folders_is_refused(tmp_path, small):
    root, _ = miniatures.mio_tcd(tmp_path)
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
    root, _ = miniatures.mio_tcd(tmp_path, gt=False)
    shutil.rmtree(root / "train" / "pedestrian")
    with pytest.raises(UserError, match=r"class folder .*train/pedestrian is missing: download MIO-TCD"):
        load("mio_tcd", str(root))
    (root / "train" / "pedestrian").mkdir()
    with pytest.raises(UserError, match=r"class folder .*train/pedestrian has no \.jpg images"):
        load("mio_tcd", str(root))


def test_missing_dataset_says_where_to_download(tmp_path):
    with pytest.raises(UserError, match="not found: download MIO-TCD-Classification from https://tcd.miovision.com"):
        load("mio_tcd", str(tmp_path / "none"))
    with pytest.raises(UserError, match="no train/ folder in"):
        load("mio_tcd", str(tmp_path))
    with pytest.raises(UserError, match="needs a path"):
        load("mio_tcd", None)


def test_corrupt_jpeg_is_named(tmp_path, small):
    root, _ = miniatures.mio_tcd(tmp_path)
    bad = root / "train" / "work_van" / "00000021.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    data = load("mio_tcd", str(root))  # listed, not decoded yet
    with pytest.raises(UserError, match="work_van/00000021.jpg is not a readable image"):
        np.asarray(data.images)


def test_only_the_images_taken_are_decoded(tmp_path, small):
    root, labels = miniatures.mio_tcd(tmp_path, per_class=3)
    data = load("mio_tcd", str(root))
    (root / "train" / "bicycle" / "00000007.jpg").write_bytes(b"not a jpeg")  # index 7: never taken
    taken = np.array([0, 4, 30])
    images = data.images[taken]
    assert images.shape == (3, 12, 12, 3) and images.dtype == np.uint8
    for image, label in zip(images, data.labels[taken], strict=True):
        assert np.abs(image.astype(int) - miniatures.mio_colour(label)).max() <= 8
    cars = data.select_classes([4])  # still undecoded
    assert len(cars.images) == 3 and cars.labels.tolist() == [0, 0, 0] and cars.class_names == ("car",)
    with pytest.raises(UserError, match="bicycle/00000007.jpg is not a readable image"):
        data.images[[7]]


def test_decoding_more_than_memory_holds_is_refused(tmp_path, monkeypatch):
    root, _ = miniatures.mio_tcd(tmp_path, per_class=1)
    data = load("mio_tcd", str(root))
    monkeypatch.setattr(base, "_available_memory", lambda: 1 << 20)  # 1 MiB; 11 images of 256 px need 2.1
    with pytest.raises(UserError, match=r"decoding 11 images of 256 px needs 2.1 MiB, more than the 1.0 MiB "
                                          r"of memory available: lower the sizes"):
        np.asarray(data.images)
