"""Deterministic splits, as index arrays into a dataset's labelled images (Study III's subsets:
subsets.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from hpo.errors import UserError


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def class_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(labels, minlength=n_classes)


def describe(data) -> dict:
    """Sizes and class counts of a split (a SplitData): what manifests and study runs record."""
    counts = {part: class_counts(getattr(data, f"y_{part}"), data.n_classes).tolist()
              for part in ("train", "val", "test")}
    return {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test),
            "class_names": list(data.class_names), **{f"{part}_class_counts": c for part, c in counts.items()}}


def split_indices(labels: np.ndarray, n_train: int, n_val: int, test_per_class: int, seed: int,
                  name: str = "dataset", class_names=None) -> Split:
    """A balanced test set of `test_per_class` images per class, then stratified train and
    validation sets of the given sizes from the rest. Same labels and seed -> same split."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    called = (lambda c: repr(class_names[c])) if class_names is not None else str
    test = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < test_per_class:
            raise UserError(f"{name}: class {called(c)} has {len(members)} images, fewer than "
                            f"test_per_class={test_per_class}: lower test_per_class in the profile, or add images")
        test.append(rng.choice(members, test_per_class, replace=False))
    test = np.sort(np.concatenate(test))
    rest = np.setdiff1d(np.arange(len(labels)), test)
    if n_train + n_val > len(rest):
        raise UserError(f"{name}: train={n_train} + val={n_val} exceed the {len(rest)} images left after the test set; "
                        f"lower them in the profile")
    left = class_counts(labels[rest], int(labels.max()) + 1)
    scarce = [c for c in classes if left[c] < 2]
    if scarce:  # a stratified split puts at least one image of every class in train and in val
        raise UserError(f"{name}: class {called(scarce[0])} has {left[scarce[0]]} image(s) left after the test set, "
                        "fewer than the 2 that train and val need: lower test_per_class in the profile, or add images")
    if min(n_train, n_val) < len(classes):
        raise UserError(f"{name}: train={n_train} and val={n_val} must each be at least the {len(classes)} classes, "
                        "one image of each: raise them in the profile")
    train, val = train_test_split(rest, train_size=n_train, test_size=n_val, stratify=labels[rest],
                                  random_state=seed)
    return Split(np.sort(train), np.sort(val), test)


def proportional_counts(counts: np.ndarray, total: int) -> np.ndarray:
    """Split `total` over classes in proportion to `counts` (largest remainder), at least 1 each."""
    share = counts / counts.sum() * total
    out = np.maximum(np.floor(share).astype(int), 1)
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    i = 0
    while out.sum() < total:
        out[order[i % len(out)]] += 1
        i += 1
    while out.sum() > total:
        out[np.argmax(out)] -= 1
    return out
