"""A training set's shuffled batches, exactly as Keras' `fit(x, y, batch_size=b, shuffle=True)`
draws them, from an input pipeline built once per training set and batch size.

Keras builds and traces a new tf.data pipeline in every `fit` call on arrays (0.03 s to 0.06 s
per job, as long as a short job's validation). Its order is one permutation of the examples,
drawn inside that pipeline by `tf.random.shuffle` from TensorFlow's global seed; the pipeline's
iterator is made anew each epoch, so every epoch of one `fit` visits the same permutation. Here
that permutation is drawn eagerly, by the stateless form of the same shuffle with the seeds
TensorFlow derives from the job's seed, and written into a variable that the kept pipeline
reads: the same batches of the same examples, so the same curve, without setting TensorFlow's
global seed (see seed_job). Whether the draw equals Keras' is checked against Keras' own
pipeline once per process (and by tests); where it does not (another TensorFlow), training
takes Keras' path, under TensorFlow's global seed.
"""

from __future__ import annotations

import math
import random
import warnings

import keras
import numpy as np

_SEED2 = 0  # the op seed Keras' in-pipeline shuffle draws with, under the global seed
_MAXINT32 = 2**31 - 1
_PHILOX = 1  # TensorFlow's RNG_ALG_PHILOX, the generator of its stateful shuffle
_draws_like_keras: bool | None = None  # checked on the first draw of this process


def seed_job(seed: int) -> None:
    """What keras.utils.set_random_seed seeds (Python, NumPy, Keras' global generator) except
    TensorFlow's global seed. Setting that clears every kernel TensorFlow has made, the traced
    training and evaluation steps' too: each is instantiated again (its graph optimised) in the
    next job, about a sixth of a short job's time. The one thing a job drew from it, the order
    of its batches, TrainingBatches draws with explicit seeds; Keras' own pipeline (the
    fallback) is given the global seed where it is used."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED

    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


def shuffle_seeds(seed: int) -> tuple[int, int]:
    """The (seed, seed2) of Keras' in-pipeline shuffle under global seed `seed`, as TensorFlow's
    random_seed.get_seed derives them (a pair (0, 0) would mean "not seeded")."""
    seeds = seed % _MAXINT32, _SEED2 % _MAXINT32
    return (0, _MAXINT32) if seeds == (0, 0) else seeds


class TrainingBatches:
    """The training inputs `x` (a tensor or a list of them) and labels `y`, kept between trials.
    `fit_args(batch_size, class_weight, seed)` gives fit's data arguments for one job, its
    batches in the order Keras would draw under global seed `seed`."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.n = int(keras.tree.flatten(x)[0].shape[0])
        self._pipelines: dict = {}  # (batch size, class weights) -> dataset over self._order
        # the variable of example indices the pipelines read: one per training set, as one
        # process trains one job at a time (the model pool assumes the same)
        self._order = None

    def fit_args(self, batch_size: int, class_weight: tuple | None, seed: int) -> dict:
        kept = self._kept_pipeline(batch_size, class_weight, seed)
        if kept is not None:
            return {"x": kept, "shuffle": False}  # the pipeline is the shuffle
        keras.utils.set_random_seed(seed)  # Keras' own pipeline draws its order from the global seed
        return {"x": self.x, "y": self.y, "batch_size": batch_size, "shuffle": True,
                "class_weight": dict(enumerate(class_weight)) if class_weight else None}

    def _kept_pipeline(self, batch_size: int, class_weight: tuple | None, seed: int):
        """The kept pipeline over this job's order; None where Keras' own must serve (another
        backend, or a TensorFlow that draws the order differently)."""
        if keras.backend.backend() != "tensorflow" or _draws_like_keras is False:
            return None
        import tensorflow as tf

        # The first draw of TensorFlow's stateful shuffle at these seeds, without its state
        seed1, seed2 = shuffle_seeds(seed)
        order = tf.raw_ops.StatelessShuffle(value=tf.range(self.n, dtype=tf.int64),
                                            key=tf.constant([seed1], tf.uint64),
                                            counter=tf.constant([0, seed2], tf.uint64), alg=_PHILOX)
        if not _checked(order, seed):
            return None
        if self._order is None:
            self._order = tf.Variable(order, trainable=False, name="training_order")
        else:
            self._order.assign(order)
        key = (batch_size, tuple(class_weight) if class_weight else None)
        if key not in self._pipelines:
            self._pipelines[key] = self._pipeline(batch_size, class_weight)
        return self._pipelines[key]

    def _pipeline(self, batch_size: int, class_weight: tuple | None):
        """Batch i holds the examples at order[i*b:(i+1)*b], the last one partial, as Keras cuts
        them; with class weights, each example's weight as Keras computes it from its label."""
        import tensorflow as tf
        from keras.src.trainers.data_adapters import array_slicing, data_adapter_utils

        weights = None
        if class_weight:
            weights = data_adapter_utils.class_weight_to_sample_weights(self.y, dict(enumerate(class_weight)))
        # as Keras' own pipeline: the same packing, and floats cast to floatx
        packed = data_adapter_utils.pack_x_y_sample_weight(self.x, self.y, weights)
        tensors = keras.tree.lists_to_tuples(array_slicing.convert_to_sliceable(packed, target_backend="tensorflow"))
        starts = tf.constant(np.arange(0, self.n, batch_size), tf.int64)
        ends = tf.minimum(starts + batch_size, self.n)
        order = self._order

        # Keras' batches have a static size where every batch is full, and TensorFlow compiles
        # the training step for the shapes it is given: the same shapes, the same arithmetic
        size = batch_size if self.n % batch_size == 0 else None

        def batch(i):
            indices = order[starts[i]:ends[i]]
            indices.set_shape([size])
            return keras.tree.map_structure(lambda t: tf.gather(t, indices, axis=0), tensors)

        options = tf.data.Options()
        options.experimental_optimization.apply_default_optimizations = False  # as Keras: no graph rewrite per iterator
        # No autotuning thread: Keras starts a new iterator at the end of every epoch, the last
        # one's too, and destroying it at the end of `fit` waited for that thread, 20 ms to 30 ms
        # a job (the order of the batches does not depend on how many are made at once)
        options.autotune.enabled = False
        batches = tf.data.Dataset.range(math.ceil(self.n / batch_size))
        return batches.map(batch, num_parallel_calls=tf.data.AUTOTUNE).with_options(options).prefetch(tf.data.AUTOTUNE)


def keras_order(n: int, seed: int) -> np.ndarray:
    """The permutation Keras' own pipeline draws for n examples under global seed `seed`."""
    import tensorflow as tf
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    tf.random.set_seed(seed)
    [order] = ArrayDataAdapter(np.arange(n), shuffle=True, batch_size=n).get_tf_dataset()
    return order.numpy()


def _checked(order, seed: int) -> bool:
    global _draws_like_keras
    if _draws_like_keras is None:
        _draws_like_keras = bool(np.array_equal(order.numpy(), keras_order(int(order.shape[0]), seed)))
        if not _draws_like_keras:
            warnings.warn("this TensorFlow draws Keras' shuffle order differently: every fit builds Keras' own "
                          "input pipeline (slower, same numbers)", stacklevel=4)
    return _draws_like_keras
