"""Backbones (xception, keras.applications, compact), the classification head and "last k
layers trainable"."""

from hpo.models.backbones import backbone_factory, input_scaling, load_backbone, min_input_size
from hpo.models.finetune import build_classifier, set_fine_tuned_layers

__all__ = ["backbone_factory", "input_scaling", "load_backbone", "min_input_size", "build_classifier",
           "set_fine_tuned_layers"]
