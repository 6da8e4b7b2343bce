"""The classifier on top of a backbone, and which of its layers train."""

from __future__ import annotations

import keras
from keras import layers

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


def build_classifier(backbone: keras.Model, n_classes: int, dropout: float, input_size: int) -> keras.Model:
    """Head of the paper: global average pooling -> dropout -> dense softmax."""
    inputs = layers.Input(shape=(input_size, input_size, 3), name="image")
    x = backbone(inputs)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{backbone.name}_classifier")
