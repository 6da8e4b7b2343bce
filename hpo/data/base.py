"""The dataset interface: every format (Fashion-MNIST, digits, and the paper's datasets) turns
its files into one `LabelledImages`; splits and subsets are computed from that."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hpo.data.archives import read_images
from hpo.errors import UserError


class ImageFiles:
    """Image files that look like a uint8 (N, size, size, 3) array but are decoded only when
    indexed: a split of a dataset too large for memory (MIO-TCD's 519,164 images are about 100 GB
    at 256 px) decodes its own members and nothing else."""

    ndim, dtype = 4, np.dtype(np.uint8)

    def __init__(self, paths: Sequence[Path], size: int, fix: str):
        """`fix`: what to do about a file that cannot be decoded (see archives.read_image)."""
        self.paths, self.size, self.fix = list(paths), size, fix

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, 3)

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index) -> "ImageFiles":
        """Some of the files, still undecoded (`index`: indices or a boolean mask)."""
        return ImageFiles(np.asarray(self.paths, dtype=object)[index].tolist(), self.size, self.fix)

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self[[index]][0]
        files = self.subset(index).paths
        require_memory(len(files) * self.size * self.size * 3, f"decoding {len(files)} images of {self.size} px",
                       "lower the sizes (train, val, subset.whole) in the profile")
        return read_images(files, self.size, self.fix)

    def __array__(self, dtype=None, copy=None):
        images = self[np.arange(len(self))]
        return images if dtype is None else images.astype(dtype)


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux' MemAvailable: free plus reclaimable cache)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None  # elsewhere, let the allocation decide


def require_memory(nbytes: int, what: str, fix: str) -> None:
    """Refuse, with a line saying what to `fix`, an array that would not fit the memory available now."""
    free = _available_memory()
    if free is not None and nbytes > free:
        raise UserError(f"{what} needs {_size(nbytes)}, more than the {_size(free)} of memory available: {fix}")


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


@dataclass(frozen=True)
class LabelledImages:
    """All labelled images of a dataset: uint8 RGB (N, H, W, 3), in memory or as ImageFiles
    (decoded when a split indexes them), labels 0..C-1."""

    images: np.ndarray | ImageFiles
    labels: np.ndarray
    class_names: tuple[str, ...]
    ignored_files: int = 0  # files of the dataset's folder that are not images
    skipped_files: tuple[str, ...] = ()  # "file: why" of each unreadable image left out

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {self.images.dtype} {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError("images and labels differ in length")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def select_classes(self, classes: list[int]) -> "LabelledImages":
        """Keep the given original classes, relabelled 0..len(classes)-1 in the given order."""
        unknown = [c for c in classes if not 0 <= c < self.n_classes]
        if unknown:
            raise UserError(f"classes {unknown} do not exist: this dataset has classes 0..{self.n_classes - 1}")
        mapping = np.full(self.n_classes, -1)
        mapping[classes] = np.arange(len(classes))
        keep = mapping[self.labels] >= 0
        images = self.images.subset(keep) if isinstance(self.images, ImageFiles) else self.images[keep]
        return LabelledImages(images, mapping[self.labels[keep]], tuple(self.class_names[c] for c in classes),
                              self.ignored_files, self.skipped_files)


def as_rgb(gray_or_rgb: np.ndarray) -> np.ndarray:
    """(N, H, W) or (N, H, W, 1) grey -> (N, H, W, 3) by repeating the channel."""
    x = np.asarray(gray_or_rgb)
    if x.ndim == 3:
        x = x[..., None]
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


@dataclass(frozen=True)
class SplitData:
    """One dataset's split: uint8 RGB images at their stored size, integer labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)



# format name -> loader(path or None, **options) -> LabelledImages
Loader = Callable[..., LabelledImages]
_FORMATS: dict[str, Loader] = {}


def register(name: str):
    def wrap(fn: Loader) -> Loader:
        _FORMATS[name] = fn
        return fn
    return wrap


def formats() -> list[str]:
    return sorted(_FORMATS)


def load(format_name: str, path: str | None = None, **options) -> LabelledImages:
    """`options`: `size` for the formats stored as image files, `skip_unreadable` for image_folder."""
    if format_name not in _FORMATS:
        raise UserError(f"no loader for dataset format {format_name!r}; known formats: {', '.join(formats())}")
    return _FORMATS[format_name](path, **options)
