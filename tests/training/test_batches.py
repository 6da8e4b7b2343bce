"""The kept training pipeline draws Keras' own batches: same examples, same order, same weights."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
from tensorflow.python.eager import context

from hpo.training import batches
from hpo.training.batches import TrainingBatches, keras_order


def _keras_batches(x, y, batch_size, class_weight=None):
    """What Keras' fit(x, y, batch_size, shuffle=True, class_weight) iterates over in one epoch,
    and the shapes it declares (the training step is compiled for them)."""
    adapter = ArrayDataAdapter(x, y, batch_size=batch_size, shuffle=True,
                               class_weight=dict(enumerate(class_weight)) if class_weight else None)
    dataset = adapter.get_tf_dataset()
    return [keras.tree.map_structure(np.asarray, b) for b in dataset], dataset.element_spec


def _kept_batches(kept, batch_size, seed, class_weight=None):
    dataset = kept.fit_args(batch_size, class_weight, seed)["x"]
    assert isinstance(dataset, tf.data.Dataset)
    epochs = [[keras.tree.map_structure(np.asarray, b) for b in dataset] for _ in range(2)]
    return epochs, dataset.element_spec


def _assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        keras.tree.assert_same_structure(a, b)
        for u, v in zip(keras.tree.flatten(a), keras.tree.flatten(b), strict=True):
            assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v)


@pytest.mark.parametrize("n, batch_size", [(100, 32), (257, 16), (64, 64), (5, 8)])
def test_the_same_batches_as_keras_for_every_seed_and_every_epoch(n, batch_size):
    rng = np.random.default_rng(n)
    x, y = tf.constant(rng.random((n, 3, 2), dtype=np.float32)), tf.constant(rng.integers(0, 4, n))
    kept = TrainingBatches(x, y)
    for seed in (0, 1, 17, 2024, 2**31 - 1, 2**32 - 1):  # 2**31 - 1: TensorFlow's seeds (0, 0), made (0, 2**31 - 1)
        tf.random.set_seed(seed + 1)  # the kept pipeline's order does not depend on the global seed
        epochs, spec = _kept_batches(kept, batch_size, seed)
        keras.utils.set_random_seed(seed)
        theirs, keras_spec = _keras_batches(x, y, batch_size)
        assert spec == keras_spec
        for ours in epochs:  # every epoch of one fit visits the same permutation
            _assert_same(ours, theirs)


def test_several_inputs_and_class_weights_as_keras_packs_them():
    rng = np.random.default_rng(3)
    x = [tf.constant(rng.random((90, 4), dtype=np.float32)), tf.constant(rng.random((90, 2, 2), dtype=np.float32))]
    y = tf.constant(rng.integers(0, 3, 90))
    kept, weights = TrainingBatches(x, y), (0.5, 2.0, 1.25)
    [ours, _], spec = _kept_batches(kept, 16, 4, weights)
    keras.utils.set_random_seed(4)
    theirs, keras_spec = _keras_batches(x, y, 16, weights)
    assert spec == keras_spec
    _assert_same(ours, theirs)
    assert len(ours[0]) == 3  # x, y and the sample weights


def test_a_different_draw_falls_back_to_keras_own_pipeline(monkeypatch):
    """Were another TensorFlow to draw the order differently, fit gets the arrays (warned once)."""
    monkeypatch.setattr(batches, "_draws_like_keras", None)
    monkeypatch.setattr(batches, "keras_order", lambda n, seed: np.arange(n)[::-1])
    x, y = tf.zeros((10, 2)), tf.zeros(10, tf.int64)
    with pytest.warns(UserWarning, match="draws Keras' shuffle order differently"):
        args = TrainingBatches(x, y).fit_args(4, None, 7)
    assert args["x"] is x and args["y"] is y and args["batch_size"] == 4 and args["shuffle"] is True
    assert batches._draws_like_keras is False
    assert context.global_seed() == 7  # Keras' pipeline draws from TensorFlow's global seed: the job's


def test_keras_order_is_a_permutation():
    assert sorted(keras_order(50, 0)) == list(range(50))


def test_seed_job_seeds_what_keras_does_but_tensorflow():
    """Python, NumPy and Keras' own generator as keras.utils.set_random_seed leaves them; not
    TensorFlow's global seed, whose setting would drop every kernel TensorFlow has made."""
    keras.utils.set_random_seed(5)
    expected = (random.random(), np.random.random(), float(keras.random.uniform(())))
    tf.random.set_seed(123)
    batches.seed_job(5)
    assert (random.random(), np.random.random(), float(keras.random.uniform(()))) == expected
    assert context.global_seed() == 123
