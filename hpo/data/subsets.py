"""Study III's data (Table 1's MIO-TCD rows): the whole, class-imbalanced training set, a
class-balanced and a class-imbalanced subset of the same size drawn from it, the imbalanced subset
augmented offline, and class weights for the loss. Every one of them is scored on the target's
balanced test set, which none of them touches.

How the sets are drawn (profile section `subset`, see hpo/profiles.py):

- whole: `whole.train + whole.val` images from everything outside the test set, in the per-class
  `whole.class_fractions` (or the dataset's own proportions), then split into train and val in
  those same proportions per class.
- balanced: `train` and `val` images out of the whole set, as equal per class as the sizes allow.
- imbalanced: `train` and `val` images out of the whole set, in its class proportions.
  Both subsets come from the whole set (train and val alike), so they overlap each other, as the
  paper's do; each subset's validation images are drawn like its training images (balanced with
  balanced, imbalanced with imbalanced), as Table 1 splits each subset 11,000 / 2,750.
- imbalanced_augmented: the imbalanced subset with its training images augmented (hpo/data/augment.py);
  its validation images are not augmented.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpo.data.augment import augment
from hpo.data.base import LabelledImages, SplitData
from hpo.data.splits import class_counts, proportional_counts
from hpo.errors import UserError

SUBSETS = ("balanced", "imbalanced", "imbalanced_augmented", "whole")


def class_weights(counts) -> np.ndarray:
    """Eq. 1 of the paper, w_k = ln(n / n_k) (n images in all, n_k in class k), with the majority
    class's weight set to 1 (every class of the largest count, so a balanced set weighs all 1).

    As the formula stands, a class with n_k > n / e, other than the majority, gets a weight below 1
    (down-weighted against the majority); with the paper's MIO-TCD proportions only the majority
    class is that large, which is why it says every other weight was above 1."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or len(counts) == 0:
        raise UserError(f"class weights need a vector of class counts, got {counts.tolist()}")
    if (counts <= 0).any():
        raise UserError(f"class weights: class {int(np.argmin(counts))} has no images "
                        f"(counts {counts.astype(int).tolist()})")
    weights = np.log(counts.sum() / counts)
    weights[counts == counts.max()] = 1.0
    return weights


@dataclass(frozen=True)
class WeightedSplitData(SplitData):
    """A split whose training loss weighs each class's images by `class_weight[k]` (fine_tune
    passes it to Keras; validation and test scores stay unweighted)."""

    class_weight: tuple[float, ...] = ()


def with_class_weights(data: SplitData) -> WeightedSplitData:
    """`data` with the class weights of its own training images (Eq. 1)."""
    weights = class_weights(class_counts(data.y_train, data.n_classes))
    return WeightedSplitData(data.name, data.x_train, data.y_train, data.x_val, data.y_val, data.x_test,
                             data.y_test, data.class_names, tuple(float(w) for w in weights))


def _draw(labels: np.ndarray, pool: np.ndarray, train_counts, val_counts, seed: int,
          what: str) -> tuple[np.ndarray, np.ndarray]:
    """Per class k, train_counts[k] + val_counts[k] distinct images of `pool`: the first ones
    train, the rest validate."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for k, (n_train, n_val) in enumerate(zip(train_counts, val_counts, strict=True)):
        members = pool[labels[pool] == k]
        if len(members) < n_train + n_val:
            raise UserError(f"subset {what}: class {k} has {len(members)} images to draw from, fewer than the "
                            f"{n_train + n_val} it needs; lower the sizes in the profile's subset section")
        chosen = rng.choice(members, n_train + n_val, replace=False)
        train.append(chosen[:n_train])
        val.append(chosen[n_train:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def subset_indices(labels: np.ndarray, n_classes: int, test: np.ndarray, spec, seed: int) -> dict[str, tuple]:
    """(train, val) indices into `labels` of the whole set and the two subsets, none of them in
    `test`. `spec` is the profile's subset section. Same labels, test set and seed -> same sets."""
    rest = np.setdiff1d(np.arange(len(labels)), test)
    total = spec.whole.train + spec.whole.val
    fractions = spec.whole.class_fractions
    if fractions is not None and len(fractions) != n_classes:
        raise UserError(f"subset.whole.class_fractions lists {len(fractions)} fractions; "
                        f"{spec.dataset} has {n_classes} classes")
    shares = np.asarray(fractions) if fractions is not None else class_counts(labels[rest], n_classes)
    whole_counts = proportional_counts(shares, total)
    whole_train = proportional_counts(whole_counts, spec.whole.train)
    out = {"whole": _draw(labels, rest, whole_train, whole_counts - whole_train, seed, "whole")}
    pool = np.concatenate(out["whole"])
    even = np.ones(n_classes)
    out["balanced"] = _draw(labels, pool, proportional_counts(even, spec.train),
                            proportional_counts(even, spec.val), seed + 1, "balanced")
    out["imbalanced"] = _draw(labels, pool, proportional_counts(whole_counts, spec.train),
                              proportional_counts(whole_counts, spec.val), seed + 2, "imbalanced")
    return out


def build_subsets(images: LabelledImages, test: np.ndarray, spec, seed: int, name: str) -> dict[str, SplitData]:
    """The subsets of SUBSETS as splits named `name` (the target's), each with the target's test set."""
    x, y = images.images, images.labels
    splits = {key: SplitData(name, x[train], y[train], x[val], y[val], x[test], y[test], images.class_names)
              for key, (train, val) in subset_indices(y, images.n_classes, test, spec, seed).items()}
    base = splits["imbalanced"]
    x_aug, y_aug = augment(base.x_train, base.y_train, seed + 3, spec.augmentations)
    splits["imbalanced_augmented"] = SplitData(name, x_aug, y_aug, base.x_val, base.y_val, base.x_test,
                                               base.y_test, base.class_names)
    return {key: splits[key] for key in SUBSETS}
