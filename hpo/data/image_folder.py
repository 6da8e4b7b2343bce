"""A user's own images: one subfolder per class, the layout `keras.utils.image_dataset_from_directory`
reads. Class names are the folder names, labels their sorted order; a class folder may hold
nested folders (their images belong to the class). JPEG, PNG, BMP and GIF files of any size and
mode (grey, RGB, RGBA, palette: converted to RGB) are listed, and decoded only when a split takes
them, resized to the dataset's `image_size`. Other files are ignored and counted.

Every listed file's header is read at once, so a file that is not an image at all stops
`prepare` before anything else. A file whose header is fine but whose data is damaged (a
truncated JPEG) stops it when a split decodes it. With `skip_unreadable`, every image is decoded
up front instead, and those that fail are left out and listed in the manifest.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from hpo.data.base import ImageFiles, LabelledImages, register
from hpo.errors import UserError

EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # keras.utils.image_dataset_from_directory's
FIX = "replace or delete it, or set skip_unreadable: true for this dataset in the profile"


@dataclass(frozen=True)
class Listing:
    """The image files of a class folder tree, before any is decoded."""
    files: list[Path]
    labels: np.ndarray
    class_names: tuple[str, ...]
    ignored: list[Path]  # files that are not JPEG, PNG, BMP or GIF


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _files_under(folder: Path) -> list[Path]:
    """Every visible file below `folder`, in a fixed order (sorted at each level)."""
    found = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if _visible(d))
        found += [Path(parent) / n for n in sorted(names) if _visible(n)]
    return found


def _check_not_looping(root: Path, folder: Path) -> None:
    """A class folder that is a link into the image folder (or above it) would count images of other
    classes, or itself, as its own."""
    if not folder.is_symlink():
        return
    target, top = folder.resolve(), root.resolve()
    if target == top or top in target.parents or target in top.parents:
        raise UserError(f"class folder {folder} is a link to {target}, inside or above the image folder: its images "
                        "would count twice; remove the link, or copy the images it should hold")


def list_folder(path: str | None) -> Listing:
    """The classes (subfolders, sorted) and their image files, undecoded."""
    if not path:
        raise UserError("an image_folder dataset needs a path: give the folder that holds one subfolder per "
                        "class in the profile")
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder: give the folder that holds one subfolder per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and _visible(p.name))
    for name in classes:
        _check_not_looping(root, root / name)
    if len(classes) < 2:
        raise UserError(f"{root} has {len(classes)} class folder(s): put each class's images in a subfolder "
                        "named after the class (at least 2 classes)")
    files, labels, ignored = [], [], [p for p in root.iterdir() if p.is_file() and _visible(p.name)]
    for label, name in enumerate(classes):
        members = _files_under(root / name)
        images = [p for p in members if p.suffix.lower() in EXTENSIONS]
        ignored += [p for p in members if p.suffix.lower() not in EXTENSIONS]
        if not images:
            raise UserError(f"class folder {root / name} has no images ({', '.join(EXTENSIONS)}): add some, "
                            "or move the folder out")
        files += images
        labels += [label] * len(images)
    return Listing(files, np.array(labels, dtype=np.int64), tuple(classes), sorted(ignored))


def header_problem(path: Path) -> str | None:
    """Why the file is not an image Pillow can open (its header alone is read), or None."""
    try:
        with Image.open(path) as im:
            im.verify()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return str(e) or type(e).__name__
    return None


def decode_problem(path: Path) -> str | None:
    """Why the file cannot be decoded whole, or None."""
    try:
        with Image.open(path) as im:
            im.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return str(e) or type(e).__name__
    return None


def _problems(files: list[Path], check) -> list[str | None]:
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(check, files))


@register("image_folder")
def load_image_folder(path: str | None = None, size: int | None = None,
                      skip_unreadable: bool = False) -> LabelledImages:
    """A class folder tree as labelled images of `size` px a side, decoded when a split takes them."""
    if size is None:
        raise UserError("an image_folder dataset needs image_size in the profile: the side, in pixels, its images "
                        "are stored at")
    listing = list_folder(path)
    problems = _problems(listing.files, decode_problem if skip_unreadable else header_problem)
    bad = [(f, why) for f, why in zip(listing.files, problems, strict=True) if why is not None]
    if bad and not skip_unreadable:
        file, why = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise UserError(f"{file} is not a readable image ({why}){more}: {FIX}")
    keep = np.array([why is None for why in problems], dtype=bool)
    files = [f for f, k in zip(listing.files, keep, strict=True) if k]
    labels = listing.labels[keep]
    empty = [name for c, name in enumerate(listing.class_names) if not (labels == c).any()]
    if empty:
        raise UserError(f"class {empty[0]!r} has no readable image left: add some, or move its folder out")
    return LabelledImages(ImageFiles(files, size, FIX), labels, listing.class_names,
                          ignored_files=len(listing.ignored),
                          skipped_files=tuple(f"{f}: {why}" for f, why in bad))
