"""Fashion-MNIST from its IDX files: the Debian package `dataset-fashion-mnist`, then the
Keras cache (what keras.datasets.fashion_mnist downloads), or a folder given in the profile."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from hpo.data.base import LabelledImages, as_rgb, register
from hpo.errors import UserError

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # unsigned bytes, 1 or 3 dimensions


def search_dirs(path: str | None) -> list[Path]:
    """A folder given in the profile; else the project's data/ (filled by `python -m
    hpo.data.raw`, versioned by DVC), the Debian package, the Keras cache."""
    if path:
        return [Path(path)]
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [Path("data") / "fashion-mnist", DEBIAN_DIR, Path(keras_home) / "datasets" / "fashion-mnist"]


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_files(path: str | None, exclude: Path | None = None) -> list[Path]:
    """The four IDX files (train images, labels, test images, labels) from the first folder
    that has all of them; `exclude` skips one folder (the one being filled)."""
    dirs = [d for d in search_dirs(path) if exclude is None or d.resolve() != Path(exclude).resolve()]
    for folder in dirs:
        found = [_find(folder, stem) for stems in FILES.values() for stem in stems]
        if all(f is not None for f in found):
            return found
    raise UserError(
        "Fashion-MNIST IDX files not found in " + " or ".join(str(d) for d in dirs)
        + ": install them with `apt-get install dataset-fashion-mnist` (Debian), or put the four "
          "*-ubyte.gz files in ~/.keras/datasets/fashion-mnist/"
    )


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes (gzip or raw), checked against its own header."""
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read {path} ({e}): the file is corrupt or truncated; reinstall it") from None
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != IDX_MAGIC[ndim]:
        raise UserError(f"{path} is not an IDX file of {ndim} dimension(s): reinstall it")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(shape)):
        raise UserError(f"{path} is truncated: {len(raw) - header} bytes of data, header says {int(np.prod(shape))}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@register("fashion_mnist")
def load_fashion_mnist(path: str | None = None) -> LabelledImages:
    """All 70,000 labelled images (the original train and test files pooled)."""
    files = find_files(path)
    images, labels = [], []
    for image_file, label_file in (files[0:2], files[2:4]):
        x, y = read_idx(image_file, 3), read_idx(label_file, 1)
        if len(x) != len(y):
            raise UserError(f"{image_file} has {len(x)} images but {label_file} has {len(y)} labels")
        images.append(x)
        labels.append(y)
    return LabelledImages(as_rgb(np.concatenate(images)), np.concatenate(labels).astype(np.int64), CLASS_NAMES)
