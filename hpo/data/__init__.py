"""Datasets: loaders (one per format), splits, subsets, image preparation."""

from hpo.data import digits, fashion_mnist  # noqa: F401  (register their formats)
from hpo.data.base import LabelledImages, SplitData, formats, load

__all__ = ["LabelledImages", "SplitData", "formats", "load"]
