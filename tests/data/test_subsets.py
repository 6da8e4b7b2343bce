import math

import numpy as np
import pytest

from hpo.data.base import LabelledImages, SplitData
from hpo.data.splits import class_counts, split_indices
from hpo.data.subsets import (
    SUBSETS,
    WeightedSplitData,
    build_subsets,
    class_weights,
    subset_indices,
    with_class_weights,
)
from hpo.errors import UserError
from hpo.profiles import SubsetSpec

SPEC = SubsetSpec(dataset="toy", whole={"train": 400, "val": 100, "class_fractions": [0.5, 0.25, 0.125, 0.075, 0.05]},
                  train=80, val=20)


def _labels(per_class=300, classes=5):
    return np.repeat(np.arange(classes), per_class)


def _test_set(labels, seed=0):
    return split_indices(labels, 100, 50, 20, seed).test


def test_class_weights_follow_the_formula_with_the_majority_at_one():
    counts = np.array([500, 250, 125, 75, 50])
    weights = class_weights(counts)
    assert weights[0] == 1.0
    assert weights[1:] == pytest.approx(np.log(counts.sum() / counts[1:]))
    assert (counts[1:] < counts.sum() / math.e).all() and (weights[1:] > 1).all()


def test_class_weights_of_mid_size_and_balanced_classes():
    # a class above n / e other than the majority gets ln(n / n_k) < 1, as the formula says
    weights = class_weights([50, 40, 10])
    assert weights.tolist() == pytest.approx([1.0, math.log(100 / 40), math.log(10)]) and weights[1] < 1
    assert class_weights([7, 7, 7]).tolist() == [1.0, 1.0, 1.0]  # every class is the majority
    with pytest.raises(UserError, match="class 1 has no images"):
        class_weights([5, 0, 3])


def test_with_class_weights_uses_the_training_counts():
    y = np.array([0] * 6 + [1] * 3 + [2])
    x = np.zeros((10, 4, 4, 3), np.uint8)
    data = with_class_weights(SplitData("toy", x, y, x[:2], y[:2], x[:3], y[:3], ("a", "b", "c")))
    assert isinstance(data, WeightedSplitData) and data.x_train is x
    assert data.class_weight == pytest.approx((1.0, math.log(10 / 3), math.log(10)))


def test_subsets_have_the_stated_counts_and_never_touch_the_test_set():
    labels = _labels()
    test = _test_set(labels)
    sets = subset_indices(labels, 5, test, SPEC, seed=0)
    assert set(sets) == {"whole", "balanced", "imbalanced"}
    count = lambda idx: class_counts(labels[idx], 5).tolist()  # noqa: E731
    whole_train, whole_val = sets["whole"]
    assert count(np.concatenate(sets["whole"])) == [250, 125, 63, 37, 25]  # fractions of 500
    assert (len(whole_train), len(whole_val)) == (400, 100)
    assert count(sets["balanced"][0]) == [16] * 5 and count(sets["balanced"][1]) == [4] * 5
    imb_train, imb_val = sets["imbalanced"]
    assert (len(imb_train), len(imb_val)) == (80, 20)  # the same size as the balanced subset
    assert count(imb_train) == [40, 20, 10, 6, 4]  # the whole set's proportions
    whole = set(np.concatenate(sets["whole"]).tolist())
    for train, val in sets.values():
        assert not set(train) & set(val)
        assert not (set(train) | set(val)) & set(test.tolist())
        assert (set(train) | set(val)) <= whole
    assert count(test) == [20] * 5


def test_the_same_seed_gives_the_same_subsets():
    labels = _labels()
    test = _test_set(labels)
    a, b = (subset_indices(labels, 5, test, SPEC, seed=0) for _ in range(2))
    c = subset_indices(labels, 5, test, SPEC, seed=1)
    assert all(np.array_equal(a[k][i], b[k][i]) for k in a for i in (0, 1))
    assert not all(np.array_equal(a[k][0], c[k][0]) for k in a)


def test_natural_proportions_without_class_fractions():
    labels = np.repeat(np.arange(3), [600, 300, 100])
    test = split_indices(labels, 100, 50, 20, 0).test
    spec = SubsetSpec(dataset="toy", whole={"train": 800, "val": 140}, train=60, val=30)
    sets = subset_indices(labels, 3, test, spec, seed=0)
    assert class_counts(labels[np.concatenate(sets["whole"])], 3).tolist() == [580, 280, 80]  # all but the test set
    assert class_counts(labels[sets["imbalanced"][0]], 3).tolist() == [37, 18, 5]


def test_too_few_images_or_a_wrong_class_count_are_refused():
    labels = _labels(per_class=60)
    test = _test_set(labels)
    big = SubsetSpec(dataset="toy", whole={"train": 80, "val": 20, "class_fractions": [0.3, 0.3, 0.2, 0.1, 0.1]},
                     train=80, val=20)
    with pytest.raises(UserError, match="subset balanced: class 3 has 10 images to draw from, fewer than the 20"):
        subset_indices(labels, 5, test, big, seed=0)
    with pytest.raises(UserError, match="class_fractions lists 5 fractions; toy has 4 classes"):
        subset_indices(labels % 4, 4, test, SPEC, seed=0)


def test_built_subsets_share_the_balanced_test_set_and_augment_the_imbalanced_one():
    labels = _labels()
    rng = np.random.default_rng(0)
    images = LabelledImages(rng.integers(0, 256, (len(labels), 8, 8, 3), dtype=np.uint8), labels, tuple("abcde"))
    test = _test_set(labels)
    sets = build_subsets(images, test, SPEC, seed=0, name="toy")
    assert tuple(sets) == SUBSETS and all(s.name == "toy" for s in sets.values())
    for s in sets.values():
        assert np.array_equal(s.x_test, images.images[test]) and class_counts(s.y_test, 5).tolist() == [20] * 5
    imbalanced, augmented = sets["imbalanced"], sets["imbalanced_augmented"]
    assert len(augmented.y_train) == 4 * len(imbalanced.y_train)
    assert np.array_equal(augmented.x_train[:80], imbalanced.x_train)
    assert np.array_equal(augmented.y_train, np.tile(imbalanced.y_train, 4))
    assert np.array_equal(augmented.x_val, imbalanced.x_val)  # validation images are not augmented
