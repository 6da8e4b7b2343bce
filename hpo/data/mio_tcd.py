"""MIO-TCD classification (the "MIO-TCD-Classification" folder or its .tar): the labelled
images are train/<class>/<id>.jpg in 11 class folders; test/ is unlabelled and not used.

Labels come from the folders, which is where the images are. When gt_train.csv (rows
`image_id,label`) is present it is only a check: it must list the same images with the same
labels, otherwise the download is inconsistent and loading stops.

The full training set has 519,164 images: at SIZE 256 they need about 100 GB as one array, so
the loader returns them as ImageFiles, decoded only when a split or subset takes them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from hpo.data.archives import dataset_folder, redownload
from hpo.data.base import ImageFiles, LabelledImages, register
from hpo.errors import UserError

HOME = "https://tcd.miovision.com/"  # the archive: https://tcd.miovision.com/static/dataset/MIO-TCD-Classification.tar
FOLDER = "MIO-TCD-Classification"
CLASS_NAMES = ("articulated_truck", "background", "bicycle", "bus", "car", "motorcycle",
               "non-motorized_vehicle", "pedestrian", "pickup_truck", "single_unit_truck", "work_van")
SIZE = 256  # the paper's input size, as for Stanford Dogs
EXTENSIONS = {".jpg", ".jpeg"}


def find_root(path: str | None) -> Path:
    """The folder holding train/: the given folder, its MIO-TCD-Classification/, or the
    extracted archive."""
    return dataset_folder(path, "MIO-TCD", HOME, FOLDER, f"the {FOLDER} folder", FOLDER,
                          lambda root: (root / "train").is_dir(), "train/ folder")


def list_images(path: str | None) -> tuple[list[Path], np.ndarray]:
    """Every labelled image file (class by class, sorted by name) and its label, undecoded."""
    root = find_root(path)
    files, labels = [], []
    for label, name in enumerate(CLASS_NAMES):
        folder = root / "train" / name
        if not folder.is_dir():
            raise UserError(f"class folder {folder} is missing: download {FOLDER} again from {HOME}")
        members = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())
        if not members:
            raise UserError(f"class folder {folder} has no .jpg images: download {FOLDER} again from {HOME}")
        files += members
        labels += [label] * len(members)
    labels = np.array(labels, dtype=np.int64)
    if (root / "gt_train.csv").is_file():
        check_ground_truth(root / "gt_train.csv", files, labels)
    return files, labels


def check_ground_truth(csv_path: Path, files: list[Path], labels: np.ndarray) -> None:
    """gt_train.csv must give every image in the folders the label of its folder, and no more."""
    try:
        with open(csv_path, newline="") as f:
            rows = [[cell.strip() for cell in row] for row in csv.reader(f) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"cannot read {csv_path} ({e}): download {FOLDER} again from {HOME}") from None
    if rows and rows[0][-1] not in CLASS_NAMES:
        rows = rows[1:]  # a header line
    if any(len(row) != 2 for row in rows):
        raise UserError(f"{csv_path}: expected rows `image_id,label`: download {FOLDER} again from {HOME}")
    truth = dict(rows)
    for file, label in zip(files, labels.tolist(), strict=True):
        expected = truth.pop(file.stem, None)
        if expected != CLASS_NAMES[label]:
            said = f"says {expected}" if expected else "does not list it"
            raise UserError(f"{file} is in folder {CLASS_NAMES[label]} but {csv_path.name} {said}: "
                            f"download {FOLDER} again from {HOME}")
    if truth:
        raise UserError(f"{csv_path} lists {len(truth)} images missing from the folders, e.g. "
                        f"{next(iter(truth))}: download {FOLDER} again from {HOME}")


@register("mio_tcd")
def load_mio_tcd(path: str | None = None, size: int | None = None) -> LabelledImages:
    """All labelled images, resized to `size` (default SIZE) square when a split decodes them."""
    files, labels = list_images(path)
    return LabelledImages(ImageFiles(files, size or SIZE, redownload(HOME)), labels, CLASS_NAMES)
