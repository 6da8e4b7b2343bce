import numpy as np
import pytest

from hpo.data import load, stanford_dogs
from hpo.data.stanford_dogs import load_stanford_dogs, official_split
from hpo.errors import UserError
from tests.data import miniatures


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(stanford_dogs, "SIZE", 16)


@pytest.mark.parametrize("as_tars", [True, False])
def test_reads_the_distribution(tmp_path, small, as_tars):
    files, labels = miniatures.stanford_dogs(tmp_path, as_tars)
    data = load("stanford_dogs", str(tmp_path))
    assert data.images.shape == (8, 16, 16, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and data.labels.tolist() == labels.tolist()
    assert data.class_names == ("Chihuahua", "Japanese_spaniel", "Maltese_dog")
    images = np.asarray(data.images)  # decoded now
    for i, label in enumerate(labels):
        if i == 5:  # the greyscale one: equal channels
            assert (images[i, ..., 0] == images[i, ..., 2]).all()
        else:
            assert np.abs(images[i].astype(int) - miniatures.BREED_COLOURS[label]).max() <= 8
    if as_tars:
        assert (tmp_path / "images.tar.extracted" / "Images" / files[0]).is_file()


def test_default_size_is_the_papers_input(tmp_path):
    miniatures.stanford_dogs(tmp_path, as_tars=False)
    assert stanford_dogs.SIZE == 256
    assert load_stanford_dogs(str(tmp_path)).images.shape == (8, 256, 256, 3)
    assert load_stanford_dogs(str(tmp_path), size=20).images.shape == (8, 20, 20, 3)


def test_official_split(tmp_path):
    miniatures.stanford_dogs(tmp_path)
    train, test = official_split(str(tmp_path))
    assert train.tolist() == [0, 2, 3, 5, 6] and test.tolist() == [1, 4, 7]  # miniatures.is_official_train


def test_split_lists_that_do_not_partition_are_refused(tmp_path):
    files, labels = miniatures.stanford_dogs(tmp_path, as_tars=False)
    miniatures.save_dog_list(tmp_path / "test_list.mat", files[:2], labels[:2] + 1)
    with pytest.raises(UserError, match="do not partition file_list.mat"):
        official_split(str(tmp_path))


def test_missing_parts_say_where_to_download(tmp_path, small):
    with pytest.raises(UserError, match="is not a folder: download images.tar and lists.tar from http://vision"):
        load("stanford_dogs", str(tmp_path / "none"))
    with pytest.raises(UserError, match="needs a path"):
        load("stanford_dogs", None)
    with pytest.raises(UserError, match="neither file_list.mat nor lists.tar in .*: download lists.tar from"):
        load("stanford_dogs", str(tmp_path))
    miniatures.stanford_dogs(tmp_path)
    (tmp_path / "images.tar").unlink()
    with pytest.raises(UserError, match="neither Images/ nor images.tar"):
        load("stanford_dogs", str(tmp_path))


def test_listed_image_missing_is_named(tmp_path, small):
    files, _ = miniatures.stanford_dogs(tmp_path, as_tars=False)
    (tmp_path / "Images" / files[4]).unlink()
    with pytest.raises(UserError, match=rf"{files[4]} \(listed in file_list.mat\) not found"):
        load("stanford_dogs", str(tmp_path))


def test_corrupt_jpeg_is_named(tmp_path, small):
    files, _ = miniatures.stanford_dogs(tmp_path, as_tars=False)
    image = tmp_path / "Images" / files[2]
    image.write_bytes(image.read_bytes()[:150])
    data = load("stanford_dogs", str(tmp_path))  # listed, not decoded yet
    with pytest.raises(UserError, match=rf"{files[2]} is not a readable image"):
        np.asarray(data.images)


def test_truncated_tar_and_corrupt_mat_are_named(tmp_path, small):
    miniatures.stanford_dogs(tmp_path)
    raw = (tmp_path / "images.tar").read_bytes()
    (tmp_path / "images.tar").write_bytes(raw[:len(raw) // 2 + 100])
    with pytest.raises(UserError, match="images.tar is corrupt or truncated"):
        load("stanford_dogs", str(tmp_path))
    (tmp_path / "file_list.mat").write_bytes(b"MATLAB 5.0 MAT-file, but not really")
    with pytest.raises(UserError, match="cannot read .*file_list.mat .*download lists.tar again"):
        load("stanford_dogs", str(tmp_path))


def test_labels_must_match_folders(tmp_path, small):
    files, labels = miniatures.stanford_dogs(tmp_path, as_tars=False)
    labels[0] = 1  # a Chihuahua labelled as the second breed
    miniatures.save_dog_list(tmp_path / "file_list.mat", files, labels + 1)
    with pytest.raises(UserError, match="labels do not match one folder each"):
        load("stanford_dogs", str(tmp_path))
