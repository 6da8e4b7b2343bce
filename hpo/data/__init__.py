"""Datasets: loaders (one per format), splits, subsets, image preparation."""

from hpo.data import (  # noqa: F401  (register their formats)
    cifar100,
    digits,
    fashion_mnist,
    image_folder,
    mio_tcd,
    stanford_dogs,
)
from hpo.data.base import LabelledImages, SplitData, formats, load

__all__ = ["LabelledImages", "SplitData", "formats", "load"]
