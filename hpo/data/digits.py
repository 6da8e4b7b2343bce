"""scikit-learn's bundled handwritten digits (1,797 images of 8x8, 10 classes): a second,
small target from another domain that installs with the package, no download."""

from __future__ import annotations

import numpy as np

from hpo.data.base import LabelledImages, as_rgb, register


@register("digits")
def load_digits(path: str | None = None) -> LabelledImages:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    # Pixel values are 0..16; stretch them to 0..255 like every other dataset.
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return LabelledImages(as_rgb(images), bunch.target.astype(np.int64),
                          tuple(str(c) for c in bunch.target_names))
