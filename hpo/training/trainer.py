"""fine_tune(config, data, epochs, resume_from=None): train a classifier on a backbone, report
every epoch through a callback, optionally save a checkpoint to resume from (ASHA needs it)."""

from __future__ import annotations

import json
import math
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

import keras
import numpy as np
from keras.src import backend as symbolic  # compute_output_spec, which keras.backend does not export

from hpo import profiles, timing
from hpo.data.base import SplitData
from hpo.data.images import to_network_input
from hpo.errors import TrainingDiverged, UserError
from hpo.models import build_classifier, set_fine_tuned_layers
from hpo.models.finetune import reset_head
from hpo.training.batches import TrainingBatches, seed_job
from hpo.training.config import TrialConfig
from hpo.training.feature_cache import FeatureCache
from hpo.training.frozen import Split, split

# The profile's optimizer names, in its order (strict: a name added there without a class here fails at import)
OPTIMIZERS = dict(zip(profiles.OPTIMIZERS, (keras.optimizers.Adam, keras.optimizers.Adadelta,
                                            keras.optimizers.RMSprop, keras.optimizers.SGD), strict=True))
CHECKPOINT_MODEL = "model.npz"  # the classifier's weights, in model.weights order
CHECKPOINT_STATE = "state.json"
CHECKPOINT_OPTIMIZER = "optimizer.npz"
HEAD_LAYERS = ("avg_pool", "head_dropout", "predictions")  # as build_classifier names them
# Evaluation runs in inference mode (batch norm on its moving statistics, no dropout), so its
# batch size changes no number, only how many steps Python dispatches: few, large ones.
EVAL_BATCH = 256
KEPT_BYTES = 512 << 20  # training inputs, and evaluation sets, kept between trials (_kept_inputs), at most


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based, counted over the trial's whole life (resumes continue the count)
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float  # training and validation (not the test set scored for a recorded table)
    test_accuracy: float | None = None  # scored after every epoch only where fine_tune is asked to

    def metrics(self) -> dict[str, float]:
        per_epoch = {"train_loss": self.train_loss, "train_accuracy": self.train_accuracy,
                     "val_loss": self.val_loss, "val_accuracy": self.val_accuracy}
        if self.test_accuracy is None:
            return per_epoch
        return per_epoch | {"test_accuracy": self.test_accuracy, "epoch_seconds": self.seconds}


@dataclass
class TrialResult:
    config: TrialConfig
    history: list[EpochMetrics] = field(default_factory=list)
    test_accuracy: float | None = None
    epochs_done: int = 0
    checkpoint: Path | None = None

    @property
    def val_accuracy(self) -> float:
        return self.history[-1].val_accuracy if self.history else float("nan")


class _EpochReporter(keras.callbacks.Callback):
    def __init__(self, result: TrialResult, on_epoch: Callable[[EpochMetrics], None] | None, new_model: bool,
                 score_test: Callable[[], float] | None = None):
        super().__init__()
        self.result, self.on_epoch, self.started = result, on_epoch, time.perf_counter()
        self.score_test = score_test
        self.validating = self.started
        # The first epoch of a model just built also traces its training step
        self.first_phase = "first epoch of a new model" if new_model else "train epochs"

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.validating = time.perf_counter()
        timing.add(self.first_phase, self.validating - self.started)
        self.first_phase = "train epochs"

    def on_test_end(self, logs=None):
        timing.add("validation", time.perf_counter() - self.validating)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        seconds = time.perf_counter() - self.started
        m = EpochMetrics(epoch + 1, float(logs["loss"]), float(logs["accuracy"]), float(logs["val_loss"]),
                         float(logs["val_accuracy"]), seconds, self.score_test() if self.score_test else None)
        self.result.history.append(m)
        self.result.epochs_done = m.epoch
        if self.on_epoch:
            self.on_epoch(m)  # a diverged epoch was trained too: it is reported (and charged)
        if not (math.isfinite(m.train_loss) and math.isfinite(m.val_loss)):
            raise TrainingDiverged(f"loss became {m.train_loss} at epoch {m.epoch}")


def _backbone_of(model: keras.Model) -> keras.Model:
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def _tail_classifier(model: keras.Model, cut: Split, features: list[np.ndarray]) -> keras.Model:
    """The classifier's trainable part on top of the frozen features, sharing its layers."""
    inputs = [keras.Input(shape=f.shape[1:], name=f"frozen_{i}") for i, f in enumerate(features)]
    x = cut.tail(inputs if len(inputs) > 1 else inputs[0]) if cut.tail is not None else inputs[0]
    for name in HEAD_LAYERS:
        x = model.get_layer(name)(x)
    return keras.Model(inputs, x, name="tail_classifier")


def _slot(variable) -> str:
    """An optimizer variable's name without the optimizer's own (adam_3/...), which Keras numbers."""
    return variable.path.split("/", 1)[-1]


@dataclass
class _Backbone:
    """One backbone instance's initial weights, shared by the pool's models built on its layers.
    Training changes only the layers that fine-tune (a frozen batch norm runs in inference mode),
    so a reset restores those alone, unless a checkpoint was loaded since: loading writes them all."""

    initial: list  # backbone.get_weights() as the factory made them
    tuned: list  # (variable, initial value) of each layer that fine-tunes
    loaded: bool = False  # a checkpoint was loaded since the last full reset
    prefix_key: str | None = None  # the feature cache's fingerprint of the frozen prefix, once hashed

    @classmethod
    def of(cls, backbone: keras.Model) -> "_Backbone":
        initial = backbone.get_weights()
        tuned_ids = {id(v) for layer in backbone.layers if layer.trainable for v in layer.weights}
        return cls(initial, [(v, w) for v, w in zip(backbone.weights, initial, strict=True) if id(v) in tuned_ids])

    def reset(self, backbone: keras.Model) -> None:
        if self.loaded:
            backbone.set_weights(self.initial)
            self.loaded = False
        else:
            for variable, value in self.tuned:
                variable.assign(value)

    def fingerprint(self, prefix: keras.Model) -> str:
        """The feature cache's key of the frozen prefix's weights: hashed once, and again while a
        loaded checkpoint may have changed them."""
        if self.loaded:
            return FeatureCache.weights_key(prefix)
        if self.prefix_key is None:
            self.prefix_key = FeatureCache.weights_key(prefix)
        return self.prefix_key


@dataclass
class _Compiled:
    """A classifier built, split and compiled once, reused by every trial with the same
    architecture, fine-tuned depth, optimizer and input size (building and tracing the training
    step costs seconds, more than a short trial trains). Those that differ in the optimizer
    alone share their layers: each is its own keras.Model over them, compiled with its own."""

    model: keras.Model  # the whole classifier
    weights: _Backbone  # the backbone's initial weights, shared with the models on the same layers
    cut: Split | None = None  # where the frozen prefix ends, when features may be cached
    tails: dict = field(default_factory=dict)  # boundary shapes -> compiled tail classifier

    @property
    def nbytes(self) -> int:
        """About four copies of the backbone's weights: the model's, the initial ones kept, Adam's
        two slots (the head is small beside them)."""
        return 4 * sum(w.nbytes for w in self.weights.initial)


# backbone factory -> (depth, optimizer, input size, classes) -> _Compiled; dropped with the factory.
# A search space has a few dozen such keys (Table 2A: 5 depths x 4 optimizers x 3 sizes), so the
# pool is bounded by memory, not by a count that would evict models a study comes back to.
_POOL: "weakref.WeakKeyDictionary[Callable, OrderedDict]" = weakref.WeakKeyDictionary()
POOL_BYTES = 2 * 2**30  # ~6 Xceptions (71 px or larger: the weights do not grow with the input)
POOL_MAX = 64  # each also holds its traced graphs; bounds the compact backbone's pool


def _compiled(config: TrialConfig, data: SplitData, backbone_factory: Callable[[], keras.Model],
              min_input_size: int, seed: int) -> _Compiled:
    """A classifier for this configuration with the backbone's initial weights and a head as
    build_classifier(seed) makes it: from the pool when one was built before, else new."""
    if config.input_size < min_input_size:
        raise UserError(f"input_size={config.input_size} is below this backbone's minimum of {min_input_size}")
    models = _POOL.setdefault(backbone_factory, OrderedDict())
    key = (config.fine_tuned_layers, config.optimizer, config.input_size, data.n_classes)
    entry = models.get(key)
    if entry is None:
        # A model of the same depth and input size for another optimizer lends its layers: one
        # process trains one job at a time and every job starts from the initial weights.
        sibling = next((e for (k, _, size, n), e in models.items() if (k, size, n) == (key[0], *key[2:])), None)
        with timing.phase("model build"):
            if sibling is None:
                backbone = backbone_factory()
                set_fine_tuned_layers(backbone, config.fine_tuned_layers)
                model = build_classifier(backbone, data.n_classes, config.dropout, config.input_size, seed=seed)
                entry = _Compiled(model, _Backbone.of(backbone))
            else:
                model = keras.Model(sibling.model.inputs, sibling.model.outputs, name=sibling.model.name)
                entry = _Compiled(model, sibling.weights, sibling.cut)
        models[key] = entry
        while len(models) > 1 and (len(models) > POOL_MAX or sum(e.nbytes for e in models.values()) > POOL_BYTES):
            models.popitem(last=False)
        if sibling is None:
            return entry
    models.move_to_end(key)
    with timing.phase("model reset"):
        entry.weights.reset(_backbone_of(entry.model))
        reset_head(entry.model, config.dropout, seed)
    return entry


# use ("train" or "eval") -> (resizing, id of each source) -> (the sources, inputs, bytes), last used last
_KEPT: dict[str, OrderedDict] = {"train": OrderedDict(), "eval": OrderedDict()}


def _kept_inputs(use: str, sources: list, y, x: Callable[[], object], resized_to: tuple | None = None):
    """The network's inputs made by `x()` from `sources` (the frozen features themselves, or the
    images it resizes and scales as `resized_to` = (input size, scaling) says) with labels `y`,
    made once and kept between trials while they fit in KEPT_BYTES per use. For `use` "train",
    TrainingBatches (under TensorFlow over tensors: Keras would copy arrays into each fit's
    input pipeline); for "eval" (fit's validation_data, evaluate), (x, y), under TensorFlow a
    dataset of the same batches in the same order and None: Keras would build and trace a new
    input pipeline for every call, ~0.1 s each, more than a small set takes to score."""
    if keras.backend.backend() != "tensorflow":
        return TrainingBatches(x(), y) if use == "train" else (x(), y)
    import tensorflow as tf

    arrays, kept_sets = [*sources, y], _KEPT[use]
    key = (resized_to, *(id(a) for a in arrays))
    kept = kept_sets.get(key)
    if kept is not None and all(a is b for a, b in zip(kept[0], arrays, strict=True)):
        kept_sets.move_to_end(key)
        return kept[1]
    inputs = x()
    if use == "train":
        made = TrainingBatches(keras.tree.map_structure(tf.convert_to_tensor, inputs), tf.convert_to_tensor(y))
    else:
        made = tf.data.Dataset.from_tensor_slices((keras.tree.lists_to_tuples(inputs), y)).batch(EVAL_BATCH), None
    size = sum(a.nbytes for a in keras.tree.flatten(inputs)) + y.nbytes
    if size <= KEPT_BYTES:
        kept_sets[key] = (arrays, made, size)
        while sum(entry[2] for entry in kept_sets.values()) > KEPT_BYTES:
            kept_sets.popitem(last=False)
    return made


def _build_loss_and_metrics(model: keras.Model, sample: tuple) -> None:
    """Create the loss's and the metrics' variables now, symbolically. Keras would create them
    inside the first trace of the training step, and TensorFlow then traces that step a second
    time, variable-free: a second ~second per new model that buys nothing. Keras' own symbolic
    build runs the whole model symbolically to learn the output's shape, which the model's own
    output spec already says (a tenth of a second per new model)."""
    x, y = keras.tree.map_structure(lambda a: keras.KerasTensor(a.shape, keras.backend.standardize_dtype(a.dtype)),
                                    sample)
    [output] = model.outputs
    y_pred = keras.KerasTensor((y.shape[0], *output.shape[1:]), output.dtype)
    # as Keras' Trainer._symbolic_build does, given y_pred
    symbolic.compute_output_spec(model.compute_metrics, x, y, y_pred, sample_weight=None)
    symbolic.compute_output_spec(model._compute_loss, x, y, y_pred, sample_weight=None, training=False)
    model._symbolic_build(data_batch=sample)  # finds layers, loss and metrics built: builds the optimizer


def _ready(model: keras.Model, config: TrialConfig, optimizer_state: dict | None, sample: tuple) -> None:
    """Compile once; later trials zero the optimizer's state and set their learning rate."""
    if getattr(model, "optimizer", None) is None or type(model.optimizer) is not OPTIMIZERS[config.optimizer]:
        model.compile(optimizer=OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        _build_loss_and_metrics(model, sample)
    model.optimizer.build(model.trainable_variables)
    for v in model.optimizer.variables:
        v.assign(keras.ops.zeros_like(v))
    model.optimizer.learning_rate = config.learning_rate
    if optimizer_state is not None:
        # Optimizer slots are named after the model variable they serve, so the state restores by
        # name whether the trial trained on cached features or end to end before.
        missing = [_slot(v) for v in model.optimizer.variables if _slot(v) not in optimizer_state]
        if missing:
            raise UserError(f"checkpoint has no optimizer state for {missing[:3]}: it belongs to another model")
        for v in model.optimizer.variables:
            v.assign(optimizer_state[_slot(v)])


def _read_checkpoint(model: keras.Model, config: TrialConfig, path: Path) -> tuple[int, dict]:
    """Load the checkpoint's weights into `model`; its epoch count and optimizer state."""
    path = Path(path)
    state_file = path / CHECKPOINT_STATE
    if not state_file.is_file():
        raise UserError(f"checkpoint {path} is missing {CHECKPOINT_STATE}: it was not written by fine_tune")
    if not (path / CHECKPOINT_MODEL).is_file():
        raise UserError(f"checkpoint {path} was written by an earlier version of the suite: rerun the study "
                        f"with --restart")
    state = json.loads(state_file.read_text())
    if state["config"] != config.as_dict():
        raise UserError(f"checkpoint {path} belongs to another configuration: {state['config']}")
    with np.load(path / CHECKPOINT_MODEL) as f:
        weights = [f[f"arr_{i}"] for i in range(len(f.files))]
    if [w.shape for w in weights] != [tuple(v.shape) for v in model.weights]:
        raise UserError(f"checkpoint {path} holds the weights of another model")
    model.set_weights(weights)
    with np.load(path / CHECKPOINT_OPTIMIZER) as f:
        return int(state["epochs_done"]), {name: f[name] for name in f.files}


def save_checkpoint(model: keras.Model, trained: keras.Model, result: TrialResult, path: Path) -> Path:
    """The classifier's weights and the optimizer state of the model that trained, as plain
    arrays (Keras' own weight files walk every layer: twenty times slower for a small model)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / CHECKPOINT_MODEL, *model.get_weights())
    np.savez(path / CHECKPOINT_OPTIMIZER,
             **{_slot(v): keras.ops.convert_to_numpy(v) for v in trained.optimizer.variables})
    (path / CHECKPOINT_STATE).write_text(json.dumps({"config": result.config.as_dict(),
                                                     "epochs_done": result.epochs_done}))
    return path


def fine_tune(config: TrialConfig, data: SplitData, epochs: int, resume_from: Path | None = None, *,
              backbone_factory: Callable[[], keras.Model], min_input_size: int = 1, scaling: str = "xception",
              on_epoch: Callable[[EpochMetrics], None] | None = None, checkpoint_to: Path | None = None,
              seed: int = 0, test_above: float = -math.inf, feature_cache: FeatureCache | None = None,
              test_every_epoch: bool = False) -> TrialResult:
    """Train `epochs` more epochs (from scratch, or from the checkpoint `resume_from`).

    `backbone_factory` returns a fresh backbone with its initial (pretrained) weights. The same
    seed and inputs give the same initial head, data order and so the same curve. With a
    `feature_cache` and k < L, the frozen prefix runs once per image (see frozen.py) and only
    the tail trains on its output: the same model, trained on the same numbers. Data with a
    `class_weight` per class (hpo.data.subsets.WeightedSplitData) weighs the training loss by
    class, whichever model trains; the accuracies and the validation loss stay unweighted.
    The test set is scored only when the last validation accuracy is at least `test_above`
    (-inf: always; inf: never): a search reports the test accuracy of its best job alone.
    `scaling` names the keras.applications module whose preprocess_input the backbone expects.
    `test_every_epoch`: score the test set after every epoch too (a recorded table, hpo record);
    inference changes no weight and draws no random number, so the curve stays the same.
    """
    if epochs < 0:
        raise UserError(f"epochs must be >= 0, got {epochs}")
    seed_job(seed)
    entry = _compiled(config, data, backbone_factory, min_input_size, seed)
    model, backbone = entry.model, _backbone_of(entry.model)
    start, optimizer_state = 0, None
    if resume_from is not None:
        entry.weights.loaded = True  # the checkpoint's weights go into every layer, frozen ones too
        with timing.phase("checkpoint read"):
            start, optimizer_state = _read_checkpoint(model, config, resume_from)
        seed_job(seed + start)  # and a new data order for the new epochs (fit_args below)
    result = TrialResult(config, epochs_done=start)
    trained, inputs = model, None
    sets = (data.x_train, data.x_val, data.x_test)
    if feature_cache is not None and config.fine_tuned_layers < len(backbone.layers):
        entry.cut = entry.cut or split(backbone, config.fine_tuned_layers)
        with timing.phase("frozen features"):
            weights = entry.weights.fingerprint(entry.cut.prefix)
            parts = [feature_cache.features(entry.cut.prefix, images, config.input_size, entry.cut.cut, weights,
                                            scaling) for images in sets]
        if all(p is not None for p in parts):
            shapes = tuple(f.shape[1:] for f in parts[0])
            if shapes not in entry.tails:
                with timing.phase("model build"):
                    entry.tails[shapes] = _tail_classifier(model, entry.cut, parts[0])
            trained, inputs = entry.tails[shapes], parts
    labels = (data.y_train, data.y_val, data.y_test)
    if inputs is None:  # the whole classifier trains on the images, resized
        resizing = (config.input_size, scaling)
        train_set, val_set, test_set = (([images], y, partial(to_network_input, images, *resizing), resizing)
                                        for images, y in zip(sets, labels, strict=True))
    else:
        train_set, val_set, test_set = ((keras.tree.flatten(features), y, lambda features=features: features)
                                        for features, y in zip(inputs, labels, strict=True))
    with timing.phase("network inputs"):
        train = _kept_inputs("train", *train_set)
    first = keras.tree.map_structure(lambda a: a[:1], train.x)  # one example builds the metrics symbolically
    new_model = getattr(trained, "train_function", None) is None  # its training step is yet to be traced
    with timing.phase("compile"):
        _ready(trained, config, optimizer_state, sample=(first, data.y_train[:1]))
    class_weight = getattr(data, "class_weight", None)

    def score_test() -> float:
        with timing.phase("test evaluation"):
            x_set, y_set = _kept_inputs("eval", *test_set)
            return float(trained.evaluate(x_set, y_set, batch_size=EVAL_BATCH, verbose=0,
                                          return_dict=True)["accuracy"])

    if epochs:
        with timing.phase("fit set-up"):
            trained.fit(**train.fit_args(config.batch_size, class_weight, seed + start), epochs=start + epochs,
                        initial_epoch=start, validation_data=_kept_inputs("eval", *val_set),
                        validation_batch_size=EVAL_BATCH, verbose=0,
                        callbacks=[_EpochReporter(result, on_epoch, new_model,
                                                  score_test if test_every_epoch else None)])
    if test_every_epoch and result.history:
        result.test_accuracy = result.history[-1].test_accuracy
    elif test_above == -math.inf or result.val_accuracy >= test_above:  # NaN (no epoch) reaches no bar
        result.test_accuracy = score_test()
    if checkpoint_to is not None:
        with timing.phase("checkpoint write"):
            result.checkpoint = save_checkpoint(model, trained, result, checkpoint_to)
    return result
