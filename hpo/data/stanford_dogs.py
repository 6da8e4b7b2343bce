"""Stanford Dogs from its distribution files: a folder with images.tar and lists.tar, or
their contents (Images/<wnid>-<breed>/*.jpg, file_list.mat, train_list.mat, test_list.mat).
20,580 images of 120 breeds, of varying sizes: each is stretched to SIZE x SIZE when decoded.
The images are in file_list.mat's order; `official_split` gives the dataset's own train/test
lists as indices into that order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from hpo.data.archives import extract, redownload
from hpo.data.base import ImageFiles, LabelledImages, register
from hpo.errors import UserError

HOME = "http://vision.stanford.edu/aditya86/ImageNetDogs/"
SIZE = 256  # the paper's input size; images are stored at it so resizing later is a no-op
LISTS = ("train_list.mat", "test_list.mat")


def _root(path: str | None) -> Path:
    if not path:
        raise UserError(f"Stanford Dogs needs a path: give the folder holding images.tar and lists.tar "
                        f"(from {HOME}) in the profile")
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: download images.tar and lists.tar from {HOME} into it")
    return root


def lists_dir(root: Path) -> Path:
    """The folder with file_list.mat: `root` itself, or lists.tar extracted."""
    if (root / "file_list.mat").is_file():
        return root
    if not (root / "lists.tar").is_file():
        raise UserError(f"neither file_list.mat nor lists.tar in {root}: download lists.tar from {HOME}")
    return extract(root / "lists.tar", HOME)


def images_dir(root: Path) -> Path:
    """The Images/ folder: in `root`, or images.tar extracted."""
    if (root / "Images").is_dir():
        return root / "Images"
    if not (root / "images.tar").is_file():
        raise UserError(f"neither Images/ nor images.tar in {root}: download images.tar from {HOME}")
    return extract(root / "images.tar", HOME) / "Images"


def read_list(path: Path) -> tuple[list[str], np.ndarray]:
    """A list .mat file -> (relative image paths, 0-based labels)."""
    try:
        mat = scipy.io.loadmat(str(path))
        # file_list is a MATLAB cell array: one char array per image.
        files = [str(np.asarray(cell).ravel()[0]) for cell in np.asarray(mat["file_list"]).ravel()]
        labels = np.asarray(mat["labels"]).ravel().astype(np.int64) - 1  # MATLAB's labels are 1-based
    except FileNotFoundError:
        raise UserError(f"{path} not found: download lists.tar again from {HOME}") from None
    except Exception as e:  # a damaged .mat file can fail in many ways
        raise UserError(f"cannot read {path} ({type(e).__name__}: {e}): download lists.tar again "
                        f"from {HOME}") from None
    if not files:
        raise UserError(f"{path} lists no images: download lists.tar again from {HOME}")
    if len(files) != len(labels):
        raise UserError(f"{path} lists {len(files)} files but {len(labels)} labels: download lists.tar again "
                        f"from {HOME}")
    return files, labels


def class_names(files: list[str], labels: np.ndarray, source: Path) -> tuple[str, ...]:
    """Breed names from the folder names (n02085620-Chihuahua -> Chihuahua), one folder per label."""
    folders: dict[int, set[str]] = {}
    for file, label in zip(files, labels.tolist(), strict=True):
        folders.setdefault(label, set()).add(file.split("/")[0])
    n = len(folders)
    if sorted(folders) != list(range(n)) or any(len(f) != 1 for f in folders.values()):
        raise UserError(f"{source}: labels do not match one folder each, 1..{n}: download lists.tar again from {HOME}")
    return tuple(folders[c].pop().split("-", 1)[-1] for c in range(n))


@register("stanford_dogs")
def load_stanford_dogs(path: str | None = None, size: int | None = None) -> LabelledImages:
    """All images of file_list.mat, resized to `size` (default SIZE) square when a split decodes
    them (about 4 GB at 256 px)."""
    root = _root(path)
    source = lists_dir(root) / "file_list.mat"
    files, labels = read_list(source)
    names = class_names(files, labels, source)
    folder = images_dir(root)
    paths = [folder / f for f in files]
    for p in paths:
        if not p.is_file():
            raise UserError(f"{p} (listed in file_list.mat) not found: download images.tar again from {HOME}")
    return LabelledImages(ImageFiles(paths, size or SIZE, redownload(HOME)), labels, names)


def official_split(path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's own train and test lists, as sorted indices into load_stanford_dogs' order."""
    lists = lists_dir(_root(path))
    files, labels = read_list(lists / "file_list.mat")
    index = {f: i for i, f in enumerate(files)}
    parts = []
    for name in LISTS:
        part_files, part_labels = read_list(lists / name)
        unknown = [f for f in part_files if f not in index]
        if unknown:
            raise UserError(f"{lists / name} lists {unknown[0]}, which file_list.mat does not: "
                            f"download lists.tar again from {HOME}")
        idx = np.array([index[f] for f in part_files], dtype=np.int64)
        if not np.array_equal(labels[idx], part_labels):
            raise UserError(f"{lists / name} and file_list.mat disagree on labels: download lists.tar "
                            f"again from {HOME}")
        parts.append(np.sort(idx))
    train, test = parts
    if len(np.intersect1d(train, test)) or len(train) + len(test) != len(files):
        raise UserError(f"{LISTS[0]} and {LISTS[1]} in {lists} do not partition file_list.mat: "
                        f"download lists.tar again from {HOME}")
    return train, test
