"""The dataset interface: every format (Fashion-MNIST, digits, and the paper's datasets) turns
its files into one `LabelledImages`; splits and subsets are computed from that."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hpo.errors import UserError


@dataclass(frozen=True)
class LabelledImages:
    """All labelled images of a dataset: uint8 RGB (N, H, W, 3), labels 0..C-1."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

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
        return LabelledImages(self.images[keep], mapping[self.labels[keep]],
                              tuple(self.class_names[c] for c in classes))


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



# format name -> loader(path or None) -> LabelledImages
Loader = Callable[[str | None], LabelledImages]
_FORMATS: dict[str, Loader] = {}


def register(name: str):
    def wrap(fn: Loader) -> Loader:
        _FORMATS[name] = fn
        return fn
    return wrap


def formats() -> list[str]:
    return sorted(_FORMATS)


def load(format_name: str, path: str | None = None) -> LabelledImages:
    if format_name not in _FORMATS:
        raise UserError(f"no loader for dataset format {format_name!r}; known formats: {', '.join(formats())}")
    return _FORMATS[format_name](path)
