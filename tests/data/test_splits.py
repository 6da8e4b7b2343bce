import numpy as np
import pytest

from hpo.data.splits import class_counts, proportional_counts, split_indices
from hpo.errors import UserError

# an imbalanced label vector: class c has 40 + 30 c images
LABELS = np.concatenate([np.full(40 + 30 * c, c) for c in range(5)])
np.random.default_rng(1).shuffle(LABELS)


def test_same_seed_same_split_and_other_seed_other_split():
    a, b = split_indices(LABELS, 100, 40, 10, seed=7), split_indices(LABELS, 100, 40, 10, seed=7)
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.train, split_indices(LABELS, 100, 40, 10, seed=8).train)


def test_sizes_disjoint_balanced_test_and_stratified_train():
    s = split_indices(LABELS, 100, 40, 10, seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (100, 40, 50)
    assert not set(s.train) & set(s.val) and not set(s.train) & set(s.test) and not set(s.val) & set(s.test)
    assert class_counts(LABELS[s.test], 5).tolist() == [10] * 5
    rest = np.setdiff1d(np.arange(len(LABELS)), s.test)
    expected = class_counts(LABELS[rest], 5) / len(rest) * 100
    assert np.abs(class_counts(LABELS[s.train], 5) - expected).max() <= 1


def test_too_few_images_is_a_clear_error():
    with pytest.raises(UserError, match="class 0 has 40 images, fewer than test_per_class=41"):
        split_indices(LABELS, 10, 10, 41, seed=0, name="tiny")
    with pytest.raises(UserError, match="exceed the"):
        split_indices(LABELS, 500, 100, 10, seed=0)


def test_proportional_counts_sum_and_floor_of_one():
    counts = proportional_counts(np.array([1, 1000, 5000]), 50)
    assert counts.sum() == 50 and counts.min() >= 1
