import pickle

import numpy as np
import pytest

from hpo.data import load
from hpo.errors import UserError
from tests.data import miniatures


def test_reads_the_archive_pooled_train_then_test(tmp_path):
    path, parts = miniatures.cifar100(tmp_path)
    data = load("cifar100", str(path))
    assert data.images.shape == (10, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64
    assert data.labels.tolist() == parts["train"][b"fine_labels"] + parts["test"][b"fine_labels"]
    assert data.class_names == ("apple", "aquarium_fish", "baby", "bear", "beaver")
    rows = np.concatenate([parts["train"][b"data"], parts["test"][b"data"]])
    # Row layout: 1024 red, then 1024 green, then 1024 blue bytes, each plane row-major.
    assert data.images[3, 5, 7, 0] == rows[3, 5 * 32 + 7]
    assert data.images[3, 5, 7, 2] == rows[3, 2048 + 5 * 32 + 7]
    assert np.array_equal(data.images.transpose(0, 3, 1, 2).reshape(10, 3072), rows)
    assert np.array_equal(load("cifar100", str(path)).images, data.images)  # again, from the cache


@pytest.mark.parametrize("inner", [True, False])
def test_reads_an_extracted_folder(tmp_path, inner):
    path, parts = miniatures.cifar100(tmp_path, as_archive=False)
    data = load("cifar100", str(path if inner else tmp_path))
    assert len(data.labels) == 10 and data.n_classes == 5


def test_missing_path_says_where_to_download(tmp_path):
    with pytest.raises(UserError, match=r"python\.tar\.gz not found: download .* from https://www\.cs\.toronto"):
        load("cifar100", str(tmp_path / "cifar-100-python.tar.gz"))
    with pytest.raises(UserError, match="needs a path"):
        load("cifar100", None)
    with pytest.raises(UserError, match="no CIFAR-100 files"):
        load("cifar100", str(tmp_path))


def test_truncated_archive_is_named(tmp_path):
    path, _ = miniatures.cifar100(tmp_path)
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(UserError, match="cifar-100-python.tar.gz is corrupt or truncated"):
        load("cifar100", str(path))


def test_corrupt_or_incomplete_folder_is_named(tmp_path):
    path, _ = miniatures.cifar100(tmp_path, as_archive=False)
    (path / "test").write_bytes(pickle.dumps({b"data": 1}, protocol=2)[:-5])
    with pytest.raises(UserError, match=r"cannot read .*test .*corrupt; download cifar-100-python\.tar\.gz again"):
        load("cifar100", str(path))
    (path / "test").unlink()
    with pytest.raises(UserError, match="test not found: the CIFAR-100 folder is incomplete"):
        load("cifar100", str(path))


def test_wrong_shapes_and_labels_are_named(tmp_path):
    path, parts = miniatures.cifar100(tmp_path, as_archive=False)
    bad = {**parts["test"], b"data": parts["test"][b"data"][:, :100]}
    (path / "test").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(UserError, match="expected 4 rows of 3072 bytes"):
        load("cifar100", str(path))
    bad = {**parts["test"], b"fine_labels": [0, 1, 2, 99]}
    (path / "test").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(UserError, match=r"fine labels outside 0\.\.4"):
        load("cifar100", str(path))
