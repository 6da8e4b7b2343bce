"""Offline augmentation of Study III (Section 3.3): "three perturbations were applied to each
image, including rotation with a random angle between 0 and 10 degrees, random zooming in the
range of -10% to +10%, and vertical flipping. This resulted in three altered copies of each input
image, in addition to the original images" (4x the images).

Read as one perturbation per copy: the rotated copy, the zoomed copy and the flipped copy of every
image. (The other reading, each copy rotated, zoomed and flipped at once, would make the three
copies differ only in their random angle and zoom, and all of them upside down.) The angle and the
zoom factor are drawn per image from a seeded generator, one stream per perturbation, so the same
seed gives the same copies whichever perturbations are asked for. Pixels that a transform brings
in from outside the image repeat the nearest edge pixel, as Keras' image augmentation does by default.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hpo.profiles import AUGMENTATIONS  # ("rotation", "zoom", "vertical_flip"): the profile's choices

MAX_ROTATION_DEGREES = 10.0
MAX_ZOOM = 0.10  # zoom factor drawn from [1 - MAX_ZOOM, 1 + MAX_ZOOM]; above 1 magnifies


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """(H, W, C) rotated counter-clockwise about its centre, same size."""
    return ndimage.rotate(image.astype(np.float32), degrees, axes=(1, 0), reshape=False, order=1, mode="nearest")


def zoom(image: np.ndarray, factor: float) -> np.ndarray:
    """(H, W, C) scaled by `factor` about its centre, same size (above 1 magnifies and crops,
    below 1 shrinks and fills the border with the edge pixels)."""
    centre = (np.array(image.shape[:2], dtype=np.float64) - 1) / 2
    matrix = np.diag([1 / factor, 1 / factor, 1.0])  # output pixel -> input pixel, channels untouched
    offset = np.append(centre - centre / factor, 0.0)
    return ndimage.affine_transform(image.astype(np.float32), matrix, offset=offset, order=1, mode="nearest")


def vertical_flip(image: np.ndarray) -> np.ndarray:
    """Upside down (the rows reversed): "vertical flipping" in the paper, `vertical_flip` in Keras'
    ImageDataGenerator; not the left-right mirror."""
    return image[::-1]


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def augment(images: np.ndarray, labels: np.ndarray, seed: int,
            augmentations: tuple[str, ...] | list[str] = AUGMENTATIONS) -> tuple[np.ndarray, np.ndarray]:
    """The original images first, then one altered copy of every image per augmentation, in the
    order given: (1 + len(augmentations)) x the images, each copy with its original's label."""
    unknown = [a for a in augmentations if a not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown}: choose from {', '.join(AUGMENTATIONS)}")
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"need images (N, H, W, C) with N labels, got {images.shape} and {len(labels)} labels")
    n = len(images)
    copies = [images]
    for name in augmentations:
        rng = np.random.default_rng([seed, AUGMENTATIONS.index(name)])
        if name == "rotation":
            altered = (rotate(x, a) for x, a in zip(images, rng.uniform(0.0, MAX_ROTATION_DEGREES, n), strict=True))
        elif name == "zoom":
            altered = (zoom(x, f) for x, f in zip(images, rng.uniform(1 - MAX_ZOOM, 1 + MAX_ZOOM, n), strict=True))
        else:
            altered = (vertical_flip(x) for x in images)
        copies.append(np.array([_to_uint8(x) for x in altered], dtype=np.uint8).reshape(images.shape))
    return np.concatenate(copies), np.tile(labels, len(copies))
