"""scikit-learn's bundled handwritten digits (1,797 images of 8x8, 10 classes): a second,
small target from another domain that installs with the package, no download. Read from the
IDX export in data/digits/ when it exists (`python -m hpo.data.raw`), else from scikit-learn:
the same numbers either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpo.data.base import LabelledImages, as_rgb, register
from hpo.data.fashion_mnist import read_idx
from hpo.errors import UserError

EXPORT = ("digits-images-idx3-ubyte", "digits-labels-idx1-ubyte")  # as hpo.data.raw writes them


@register("digits")
def load_digits(path: str | None = None) -> LabelledImages:
    folder = Path(path) if path else Path("data") / "digits"
    if all((folder / name).is_file() for name in EXPORT):
        raw, labels = read_idx(folder / EXPORT[0], 3), read_idx(folder / EXPORT[1], 1)
    elif path:
        raise UserError(f"{folder} has no {' and '.join(EXPORT)}: fill it with `python -m hpo.data.raw`")
    else:
        from sklearn.datasets import load_digits as sklearn_digits

        bunch = sklearn_digits()
        raw, labels = bunch.images, bunch.target
    # Pixel values are 0..16; stretch them to 0..255 like every other dataset.
    images = np.round(np.asarray(raw, dtype=np.float64) * (255.0 / 16.0)).astype(np.uint8)
    return LabelledImages(as_rgb(images), np.asarray(labels, dtype=np.int64), tuple(str(c) for c in range(10)))
