import hashlib

import numpy as np

from hpo.data import load
from hpo.data.raw import DIGITS_DIR, FASHION_DIR, fill


def _digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fill_is_byte_identical_and_the_loaders_read_it(tmp_path, monkeypatch):
    first = fill(tmp_path / "a")
    fill(tmp_path / "b")
    assert len(first) == 6 and _digest(tmp_path / "a") == _digest(tmp_path / "b")  # same bytes every time
    # The loaders read data/ under the working directory first, and find the same images there.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").rename(tmp_path / "data")
    digits = load("digits")
    from sklearn.datasets import load_digits
    bunch = load_digits()
    assert np.array_equal(digits.images[..., 0], np.round(bunch.images * 255 / 16).astype(np.uint8))
    assert np.array_equal(digits.labels, bunch.target)
    assert np.array_equal(load("digits", str(tmp_path / "data" / DIGITS_DIR)).images, digits.images)
    fashion = load("fashion_mnist")
    assert np.array_equal(fashion.images, load("fashion_mnist", str(tmp_path / "data" / FASHION_DIR)).images)
    assert fashion.images.shape == (70000, 28, 28, 3)


def test_filling_data_into_itself_uses_another_source(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fill(tmp_path / "data")
    before = _digest(tmp_path / "data")
    fill(tmp_path / "data")
    assert _digest(tmp_path / "data") == before
