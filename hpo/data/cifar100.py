"""CIFAR-100 from its "python version" distribution, cifar-100-python.tar.gz (or the folder
cifar-100-python/ it unpacks to): 60,000 32x32 RGB images, 100 fine classes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from hpo.data.archives import dataset_folder
from hpo.data.base import LabelledImages, register
from hpo.errors import UserError

HOME = "https://www.cs.toronto.edu/~kriz/cifar.html"
ARCHIVE = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"
PARTS = ("train", "test")  # pooled in this order


def find_folder(path: str | None) -> Path:
    """The folder holding `train`, `test` and `meta`, from the archive or a folder."""
    return dataset_folder(path, "CIFAR-100", HOME, ARCHIVE, f"the path of {ARCHIVE}", FOLDER,
                          lambda folder: (folder / "meta").is_file(), "CIFAR-100 files (meta, train, test)")


def read_pickle(path: Path) -> dict:
    # Pickle is the dataset's own distribution format (written by Python 2, hence bytes keys);
    # load only the archive from the dataset's home page.
    try:
        with open(path, "rb") as f:
            content = pickle.load(f, encoding="bytes")
    except FileNotFoundError:
        raise UserError(f"{path} not found: the CIFAR-100 folder is incomplete; download {ARCHIVE} "
                        f"again from {HOME}") from None
    except Exception as e:  # unpickling a damaged file can raise almost anything
        raise UserError(f"cannot read {path} ({type(e).__name__}: {e}): the file is corrupt; download "
                        f"{ARCHIVE} again from {HOME}") from None
    if not isinstance(content, dict):
        raise UserError(f"{path} is not a CIFAR-100 batch (a dict): download {ARCHIVE} again from {HOME}")
    return content


def _part(folder: Path, name: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    path = folder / name
    batch = read_pickle(path)
    if b"data" not in batch or b"fine_labels" not in batch:
        raise UserError(f"{path} has no b'data' or b'fine_labels': download {ARCHIVE} again from {HOME}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"fine_labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise UserError(f"{path}: expected {len(labels)} rows of 3072 bytes, got {data.dtype} {data.shape}; "
                        f"download {ARCHIVE} again from {HOME}")
    if len(labels) and not (0 <= labels.min() and labels.max() < n_classes):
        raise UserError(f"{path}: fine labels outside 0..{n_classes - 1}; download {ARCHIVE} again from {HOME}")
    # Each row is the red plane, then green, then blue, each 32x32 row-major.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


@register("cifar100")
def load_cifar100(path: str | None = None) -> LabelledImages:
    """All 60,000 images (train then test pooled) with their fine labels."""
    folder = find_folder(path)
    meta = read_pickle(folder / "meta")
    if b"fine_label_names" not in meta:
        raise UserError(f"{folder / 'meta'} has no b'fine_label_names': download {ARCHIVE} again from {HOME}")
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"fine_label_names"])
    parts = [_part(folder, name, len(names)) for name in PARTS]
    return LabelledImages(np.ascontiguousarray(np.concatenate([x for x, _ in parts])),
                          np.concatenate([y for _, y in parts]), names)
