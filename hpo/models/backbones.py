"""Backbones without top: Keras' Xception, the keras.applications CNNs of
profiles.KERAS_APPLICATIONS, and `compact`, a small Xception-style network.

`compact` keeps Xception's block structure (entry convolutions, a residual down-sampling block,
a middle block, and the exit blocks 13 and 14 layer for layer), so "the last 9 / 14 / 18 layers"
select the same kinds of layers in both networks: k = 9 is block 14 plus block 13's pooling and
residual batch norm, k = 14 reaches into block 13's separable convolutions, k = 18 into the
last middle block.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import keras
from keras import layers

from hpo.backbone_catalogue import INPUT_SCALING, KERAS_APPLICATIONS, MIN_INPUT_SIZE, keras_weights_cache
from hpo.errors import UserError, one_line

XCEPTION_NOTOP_FILE = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"


def min_input_size(name: str) -> int:
    return MIN_INPUT_SIZE[name]


def input_scaling(name: str) -> str:
    """The keras.applications module whose preprocess_input scales the backbone's input."""
    return INPUT_SCALING[name]


def resolve_xception_weights(weights: str) -> str | None:
    """'imagenet' -> the cached file, 'none' -> None, anything else is a file path."""
    if weights == "none":
        return None
    path = keras_weights_cache() / XCEPTION_NOTOP_FILE if weights == "imagenet" else Path(weights)
    if not path.is_file():
        raise UserError(
            f"Xception weights not found at {path}: download {XCEPTION_NOTOP_FILE} on a machine "
            f"with internet (keras.applications.Xception(include_top=False)) and copy it to "
            f"{keras_weights_cache()}, or set backbone.weights in the profile to the file's path"
        )
    return str(path)


def xception(weights: str = "none") -> keras.Model:
    return keras.applications.Xception(
        include_top=False, weights=resolve_xception_weights(weights), input_shape=(None, None, 3)
    )


def application(name: str, weights: str | None) -> keras.Model:
    """A keras.applications CNN without its top, on inputs of any size. `weights`: None (random),
    "imagenet" (from Keras' cache, which Keras fills where there is a network) or a file's path."""
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise UserError(f"backbone.weights: no file {weights}: give the path of {name}'s weights without its top "
                        "(include_top=False), or imagenet, or none")
    try:
        with warnings.catch_warnings():  # "input_shape is undefined ... (224, 224) loaded": meant, inputs vary
            warnings.filterwarnings("ignore", message=".*input_shape.* is undefined", category=UserWarning)
            return getattr(keras.applications, name)(include_top=False, weights=weights, input_shape=(None, None, 3))
    except Exception as e:  # an offline download, a file of another network: anything from Keras
        if weights == "imagenet":
            raise UserError(f"the ImageNet weights of {name} could not be loaded ({one_line(e, 200)}): on a machine "
                            f"with a network run keras.applications.{name}(include_top=False) once and copy the "
                            f"file it downloads to {keras_weights_cache()}, or set backbone.weights to its path"
                            ) from None
        raise UserError(f"{weights} is not a weights file of {name} without its top ({one_line(e, 200)}): give one "
                        "saved with include_top=False, or imagenet, or none") from None


# Batch-norm statistics follow the data faster than Keras' default 0.99: the small datasets of
# the embedded profile give few steps per epoch, and lagging moving averages would make
# validation accuracy meaningless for the first epochs.
BN_MOMENTUM = 0.9


def _bn(name):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def _sep_bn(x, filters, name):
    x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    return _bn(f"{name}_bn")(x)


def compact(widths: tuple[int, ...] = (16, 32, 48, 96, 128, 192)) -> keras.Model:
    """Xception in miniature: 42 layers and 74,192 parameters; input at least 32 px."""
    w1, w2, w3, w4, w5, w6 = widths
    img = layers.Input(shape=(None, None, 3), name="input_layer")
    # Entry flow: two plain convolutions, as Xception's block 1.
    x = layers.Conv2D(w1, 3, strides=2, use_bias=False, name="block1_conv1")(img)
    x = _bn("block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(w2, 3, use_bias=False, name="block1_conv2")(x)
    x = _bn("block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)
    # Down-sampling residual block, as Xception's block 2.
    residual = layers.Conv2D(w3, 1, strides=2, padding="same", use_bias=False, name="block2_res")(x)
    residual = _bn("block2_res_bn")(residual)
    x = _sep_bn(x, w3, "block2_sepconv1")
    x = layers.Activation("relu", name="block2_sepconv2_act")(x)
    x = _sep_bn(x, w3, "block2_sepconv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="block2_pool")(x)
    x = layers.add([x, residual], name="block2_add")
    # Middle flow: one block of three separable convolutions, as Xception's blocks 5-12.
    residual = x
    for i in (1, 2, 3):
        x = layers.Activation("relu", name=f"block12_sepconv{i}_act")(x)
        x = _sep_bn(x, w3, f"block12_sepconv{i}")
    x = layers.add([x, residual], name="block12_add")
    # Exit flow, Xception's blocks 13 and 14 layer for layer.
    residual = layers.Conv2D(w4, 1, strides=2, padding="same", use_bias=False, name="block13_res")(x)
    residual = _bn("block13_res_bn")(residual)
    x = layers.Activation("relu", name="block13_sepconv1_act")(x)
    x = _sep_bn(x, w3, "block13_sepconv1")
    x = layers.Activation("relu", name="block13_sepconv2_act")(x)
    x = _sep_bn(x, w4, "block13_sepconv2")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="block13_pool")(x)
    x = layers.add([x, residual], name="block13_add")
    x = _sep_bn(x, w5, "block14_sepconv1")
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = _sep_bn(x, w6, "block14_sepconv2")
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    return keras.Model(img, x, name="compact")


def load_backbone(path: Path) -> keras.Model:
    """A backbone saved by `prepare`."""
    if not Path(path).is_file():
        raise UserError(f"pretrained backbone {path} is missing: run `hpo prepare` with this profile first")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras reports a damaged file as anything from "File not found" to a zip error
        raise UserError(f"pretrained backbone {path} is damaged ({one_line(e, 200)}): run `hpo prepare --force` "
                        "with this profile") from None


def _copies_of(load) -> "Callable[[], keras.Model]":
    """A factory of fresh copies of the backbone `load` returns, loading it only once."""
    original, weights = None, None

    def copy() -> keras.Model:
        nonlocal original, weights
        if original is None:
            original = load()
            weights = original.get_weights()
        clone = keras.models.clone_model(original)
        clone.set_weights(weights)
        return clone

    return copy


def backbone_factory(spec, prepared_file: Path | None, scratch: bool = False):
    """A function returning a fresh backbone with the profile's initial weights: the compact
    network `prepare` pretrained, or Xception or a keras.applications CNN with its weights;
    `scratch` gives random weights. Weights are read from disk once; every call returns an
    independent copy."""
    if spec.name in KERAS_APPLICATIONS:
        if scratch or spec.weights == "none":
            return lambda: application(spec.name, None)
        return _copies_of(lambda: application(spec.name, spec.weights))
    if spec.name == "xception":
        weights = "none" if scratch else spec.weights
        resolve_xception_weights(weights)  # fail now, not at the first trial
        return (lambda: xception("none")) if scratch else _copies_of(lambda: xception(weights))
    if scratch or spec.weights == "none":
        return compact
    return _copies_of(lambda: load_backbone(prepared_file))
