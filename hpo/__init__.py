"""Reproducible benchmark suite for hyperparameter optimisation of fine-tuned CNNs."""

__version__ = "0.1.0"
