"""The classifier on top of a backbone, and which of its layers train."""

from __future__ import annotations

import keras
from keras import layers, ops

from hpo.errors import UserError


def set_fine_tuned_layers(backbone: keras.Model, k: int) -> None:
    """Make the last k layers of the backbone trainable and freeze the rest.

    Keras 3 runs a frozen BatchNormalization in inference mode, so the frozen part is a fixed
    function of its input. k = 0 trains only the head; k = len(layers) trains everything.
    """
    n = len(backbone.layers)
    if not 0 <= k <= n:
        raise UserError(f"fine_tuned_layers={k} is outside 0..{n}: the {backbone.name} backbone has {n} layers")
    backbone.trainable = True
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= n - k


@keras.saving.register_keras_serializable(package="hpo")
class HeadDropout(layers.Layer):
    """Inverted dropout whose rate and random stream live in variables, so one traced training
    step serves trials with any dropout rate (the trainer reuses compiled models)."""

    def __init__(self, rate: float, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.initial_rate, self.seed = float(rate), int(seed)
        self.rate = self.add_weight(shape=(), initializer=keras.initializers.Constant(rate), trainable=False,
                                    name="rate")
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        keep = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator) >= self.rate
        return ops.where(keep, inputs / (1.0 - self.rate), ops.zeros_like(inputs))

    def reset(self, rate: float, seed: int) -> None:
        self.rate.assign(rate)
        self.seed_generator.state.assign(ops.convert_to_tensor([seed, 0], dtype=self.seed_generator.state.dtype))

    def get_config(self):
        return {**super().get_config(), "rate": self.initial_rate, "seed": self.seed}


def head_initializer(seed: int):
    return keras.initializers.GlorotUniform(seed=seed)


def build_classifier(backbone: keras.Model, n_classes: int, dropout: float, input_size: int,
                     seed: int = 0) -> keras.Model:
    """Head of the paper: global average pooling -> dropout -> dense softmax. Its random parts
    are seeded by `seed` alone, so a reused model re-initialised with `reset_head` starts equal."""
    inputs = layers.Input(shape=(input_size, input_size, 3), name="image")
    x = backbone(inputs)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = HeadDropout(dropout, seed=seed, name="head_dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", kernel_initializer=head_initializer(seed),
                           name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_classifier")


def reset_head(model: keras.Model, dropout: float, seed: int) -> None:
    """Put the head back to what build_classifier(..., dropout, seed=seed) creates."""
    model.get_layer("head_dropout").reset(dropout, seed)
    dense = model.get_layer("predictions")
    dense.kernel.assign(head_initializer(seed)(dense.kernel.shape))
    dense.bias.assign(ops.zeros_like(dense.bias))
