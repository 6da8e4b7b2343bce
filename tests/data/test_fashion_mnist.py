import gzip

import numpy as np
import pytest

from hpo.data import fashion_mnist, load
from hpo.data.fashion_mnist import read_idx
from hpo.errors import UserError


def _write_idx(path, array: np.ndarray, compress=True):
    header = (0x00000800 | array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def _fake_fashion(folder, n_train=20, n_test=10, compress=True):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for part, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), compress)
        _write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, compress)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_idx_files_from_a_folder(tmp_path, compress):
    _fake_fashion(tmp_path, compress=compress)
    data = load("fashion_mnist", str(tmp_path))
    assert data.images.shape == (30, 28, 28, 3) and data.images.dtype == np.uint8
    assert (data.images[..., 0] == data.images[..., 2]).all()  # grey repeated into RGB
    assert data.labels.tolist() == list(np.arange(20) % 10) + list(np.arange(10) % 10)
    assert data.class_names[9] == "Ankle boot"


def test_truncated_file_is_named(tmp_path):
    _fake_fashion(tmp_path, compress=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UserError, match="t10k-images-idx3-ubyte is truncated"):
        load("fashion_mnist", str(tmp_path))


def test_corrupt_gzip_and_wrong_magic_are_named(tmp_path):
    bad = tmp_path / "x.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="x.gz.*corrupt or truncated"):
        read_idx(bad, 3)
    raw = tmp_path / "y"
    raw.write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 20)
    with pytest.raises(UserError, match="not an IDX file of 3 dimension"):
        read_idx(raw, 3)


def test_missing_files_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ here
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist") as e:
        load("fashion_mnist")
    assert str(tmp_path / "keras" / "datasets" / "fashion-mnist") in str(e.value)


def test_falls_back_to_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ here
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    _fake_fashion(cache)
    assert len(load("fashion_mnist").labels) == 30


def test_the_installed_dataset():
    """The real files the setup installs (Debian package dataset-fashion-mnist)."""
    data = load("fashion_mnist")
    assert data.images.shape == (70000, 28, 28, 3)
    assert np.bincount(data.labels).tolist() == [7000] * 10
