import tarfile

import numpy as np
import pytest
import scipy.io
from PIL import Image

from hpo.data import load, stanford_dogs
from hpo.data.stanford_dogs import load_stanford_dogs, official_split
from hpo.errors import UserError

BREEDS = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02085936-Maltese_dog"]
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 50, 210)]
SIZES = [(40, 30), (24, 50), (33, 33)]  # (width, height): varying, as in the real images
TRAIN = {0, 2, 3, 6, 7}  # positions in file_list.mat that train_list.mat holds


def _cell(strings):
    """A MATLAB cell array (N, 1) of char arrays, as in the .mat files of lists.tar."""
    cell = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        cell[i, 0] = np.array([s])
    return cell


def _save_list(path, files, labels):
    scipy.io.savemat(path, {"file_list": _cell(files),
                            "annotation_list": _cell([f.removesuffix(".jpg") for f in files]),
                            "labels": np.array(labels, dtype=np.float64).reshape(-1, 1)})


def _fake_dogs(folder, as_tars=True):
    """images.tar (Images/<wnid>-<breed>/<wnid>_<n>.jpg) and lists.tar (file_list.mat,
    train_list.mat, test_list.mat), or their contents. Returns the relative paths and labels."""
    staged = folder / "staged" if as_tars else folder
    files, labels = [], []
    for label, breed in enumerate(BREEDS):
        (staged / "Images" / breed).mkdir(parents=True)
        for k in range(3 if label < 2 else 2):
            name = f"{breed}/{breed.split('-')[0]}_{1000 + k}.jpg"
            image = Image.new("RGB", SIZES[k], COLOURS[label])
            if label == 1 and k == 2:
                image = image.convert("L")  # a few originals are greyscale
            image.save(staged / "Images" / name, quality=95)
            files.append(name)
            labels.append(label + 1)  # 1-based, as MATLAB writes them
    _save_list(staged / "file_list.mat", files, labels)
    for name, keep in (("train_list.mat", True), ("test_list.mat", False)):
        chosen = [i for i in range(len(files)) if (i in TRAIN) == keep]
        _save_list(staged / name, [files[i] for i in chosen], [labels[i] for i in chosen])
    if as_tars:
        with tarfile.open(folder / "images.tar", "w") as tar:
            tar.add(staged / "Images", arcname="Images")
        with tarfile.open(folder / "lists.tar", "w") as tar:
            for name in ("file_list.mat", "train_list.mat", "test_list.mat"):
                tar.add(staged / name, arcname=name)
    return files, np.array(labels) - 1


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(stanford_dogs, "SIZE", 16)


@pytest.mark.parametrize("as_tars", [True, False])
def test_reads_the_distribution(tmp_path, small, as_tars):
    files, labels = _fake_dogs(tmp_path, as_tars)
    data = load("stanford_dogs", str(tmp_path))
    assert data.images.shape == (8, 16, 16, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and data.labels.tolist() == labels.tolist()
    assert data.class_names == ("Chihuahua", "Japanese_spaniel", "Maltese_dog")
    for i, label in enumerate(labels):
        if i == 5:  # the greyscale one: equal channels
            assert (data.images[i, ..., 0] == data.images[i, ..., 2]).all()
        else:
            assert np.abs(data.images[i].astype(int) - COLOURS[label]).max() <= 8
    if as_tars:
        assert (tmp_path / "images.tar.extracted" / "Images" / files[0]).is_file()


def test_default_size_is_the_papers_input(tmp_path):
    _fake_dogs(tmp_path, as_tars=False)
    assert stanford_dogs.SIZE == 256
    assert load_stanford_dogs(str(tmp_path)).images.shape == (8, 256, 256, 3)
    assert load_stanford_dogs(str(tmp_path), size=20).images.shape == (8, 20, 20, 3)


def test_official_split(tmp_path):
    _fake_dogs(tmp_path)
    train, test = official_split(str(tmp_path))
    assert train.tolist() == sorted(TRAIN) and test.tolist() == [1, 4, 5]


def test_split_lists_that_do_not_partition_are_refused(tmp_path):
    files, labels = _fake_dogs(tmp_path, as_tars=False)
    _save_list(tmp_path / "test_list.mat", files[:2], labels[:2] + 1)
    with pytest.raises(UserError, match="do not partition file_list.mat"):
        official_split(str(tmp_path))


def test_missing_parts_say_where_to_download(tmp_path, small):
    with pytest.raises(UserError, match="is not a folder: download images.tar and lists.tar from http://vision"):
        load("stanford_dogs", str(tmp_path / "none"))
    with pytest.raises(UserError, match="needs a path"):
        load("stanford_dogs", None)
    with pytest.raises(UserError, match="neither file_list.mat nor lists.tar in .*: download lists.tar from"):
        load("stanford_dogs", str(tmp_path))
    _fake_dogs(tmp_path)
    (tmp_path / "images.tar").unlink()
    with pytest.raises(UserError, match="neither Images/ nor images.tar"):
        load("stanford_dogs", str(tmp_path))


def test_listed_image_missing_is_named(tmp_path, small):
    files, _ = _fake_dogs(tmp_path, as_tars=False)
    (tmp_path / "Images" / files[4]).unlink()
    with pytest.raises(UserError, match=rf"{files[4]} \(listed in file_list.mat\) not found"):
        load("stanford_dogs", str(tmp_path))


def test_corrupt_jpeg_is_named(tmp_path, small):
    files, _ = _fake_dogs(tmp_path, as_tars=False)
    image = tmp_path / "Images" / files[2]
    image.write_bytes(image.read_bytes()[:150])
    with pytest.raises(UserError, match=rf"{files[2]} is not a readable image"):
        load("stanford_dogs", str(tmp_path))


def test_truncated_tar_and_corrupt_mat_are_named(tmp_path, small):
    _fake_dogs(tmp_path)
    raw = (tmp_path / "images.tar").read_bytes()
    (tmp_path / "images.tar").write_bytes(raw[:len(raw) // 2 + 100])
    with pytest.raises(UserError, match="images.tar is corrupt or truncated"):
        load("stanford_dogs", str(tmp_path))
    (tmp_path / "file_list.mat").write_bytes(b"MATLAB 5.0 MAT-file, but not really")
    with pytest.raises(UserError, match="cannot read .*file_list.mat .*download lists.tar again"):
        load("stanford_dogs", str(tmp_path))


def test_labels_must_match_folders(tmp_path, small):
    files, labels = _fake_dogs(tmp_path, as_tars=False)
    labels[0] = 1  # a Chihuahua labelled as the second breed
    _save_list(tmp_path / "file_list.mat", files, labels + 1)
    with pytest.raises(UserError, match="labels do not match one folder each"):
        load("stanford_dogs", str(tmp_path))
