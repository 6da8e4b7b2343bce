"""The frozen part of a fine-tuned backbone is a fixed function of its input.

With the first L - k layers frozen (batch norm in inference mode) and no on-line augmentation,
their output never changes during training. `split` cuts the backbone into that frozen prefix
and the trainable tail, so the prefix can run once per image and the tail train on its output.
A cut in a network with residual connections may cross several tensors: the prefix outputs all
of them (the "boundary"), and the tail takes them all as inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras


@dataclass
class Split:
    prefix: keras.Model  # backbone input -> boundary tensors
    tail: keras.Model | None  # boundary tensors -> backbone output; None when k = 0 (identity)
    cut: int  # index of the first trainable layer (L - k)


def boundary(backbone: keras.Model, k: int) -> list:
    """The prefix's tensors that the last k layers consume (the backbone's output when k = 0)."""
    cut = len(backbone.layers) - k
    if k == 0:
        return list(backbone.outputs)
    prefix_ops = {id(layer) for layer in backbone.layers[:cut]}
    found = []
    for layer in backbone.layers[cut:]:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                if id(tensor._keras_history.operation) in prefix_ops and not any(tensor is t for t in found):
                    found.append(tensor)
    return found


def split(backbone: keras.Model, k: int) -> Split:
    """Cut the backbone before its last k layers (0 <= k < L). Layers are shared, not copied:
    training the tail trains the backbone."""
    n = len(backbone.layers)
    if not 0 <= k < n:
        raise ValueError(f"can only split before the last k < {n} layers, got k={k}")
    tensors = boundary(backbone, k)
    prefix = keras.Model(backbone.inputs[0], tensors if len(tensors) > 1 else tensors[0],
                         name=f"{backbone.name}_frozen_{n - k}")
    tail = keras.Model(tensors if len(tensors) > 1 else tensors[0], backbone.outputs[0],
                       name=f"{backbone.name}_tail_{k}") if k else None
    return Split(prefix, tail, n - k)
