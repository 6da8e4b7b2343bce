"""Image preparation for the network: resize to the input size, scale as the backbone expects."""

from __future__ import annotations

import keras
import numpy as np

from hpo.data.base import require_memory


def resize(images: np.ndarray, size: int, chunk: int = 2048) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 (N, size, size, 3), bilinear, in chunks to bound memory."""
    require_memory(len(images) * size * size * 3 * 4, f"resizing {len(images)} images to input_size={size}",
                   "lower input_size (the profile's space, or --input-size)")
    if images.shape[1:3] == (size, size):
        return images.astype(np.float32)
    out = np.empty((len(images), size, size, 3), dtype=np.float32)
    for start in range(0, len(images), chunk):
        batch = images[start:start + chunk].astype(np.float32)
        out[start:start + chunk] = keras.ops.convert_to_numpy(
            keras.ops.image.resize(batch, (size, size), interpolation="bilinear"))
    return out


def to_network_input(images: np.ndarray, size: int, scaling: str = "xception") -> np.ndarray:
    """Resized and scaled by `keras.applications.<scaling>.preprocess_input` (xception: to [-1, 1];
    the backbone's own, see hpo.models.input_scaling)."""
    return getattr(keras.applications, scaling).preprocess_input(resize(images, size))
