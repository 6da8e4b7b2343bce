"""Datasets: loaders (one per format), splits, subsets, image preparation."""

from hpo.data import cifar100, digits, fashion_mnist, mio_tcd, stanford_dogs  # noqa: F401  (register their formats)
from hpo.data.base import LabelledImages, SplitData, formats, load

__all__ = ["LabelledImages", "SplitData", "formats", "load"]
