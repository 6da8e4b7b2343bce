"""`train`: one fine-tuning trial of one configuration on one prepared dataset, as one MLflow run."""

from __future__ import annotations

import statistics

import keras

from hpo import mlflow_ui, tracking
from hpo.data.prepared import BACKBONE_FILE, load_prepared, prepared_dir
from hpo.errors import TrainingDiverged, UserError
from hpo.models import backbone_factory, input_scaling, min_input_size
from hpo.training import EpochMetrics, TrialConfig, TrialResult, fine_tune
from hpo.training.feature_cache import cache_for

INITS = ("pretrained", "scratch")


def default_config(profile, **given) -> dict:
    """Fill the hyperparameters not given from the profile's applied space (Table 2B) where it
    fixes them, else from the paper's grid centre (lr 0.001, dropout 0.2, Adam)."""
    applied = profile.space.applied
    defaults = {"learning_rate": 0.001, "dropout": 0.2, "optimizer": "adam",
                "fine_tuned_layers": sorted(applied.fine_tuned_layers)[len(applied.fine_tuned_layers) // 2 - 1],
                "input_size": applied.input_size[0], "batch_size": applied.batch_size[0]}
    return {k: (defaults[k] if given.get(k) is None else given[k]) for k in defaults}


def progress_line(m: EpochMetrics, epochs: int) -> str:
    return (f"epoch {m.epoch}/{epochs}: train_loss {m.train_loss:.4f} train_accuracy {m.train_accuracy:.4f} "
            f"val_loss {m.val_loss:.4f} val_accuracy {m.val_accuracy:.4f} ({m.seconds:.1f} s)")


def check_request(profile, dataset: str, hyperparameters: dict, epochs: int, init: str) -> TrialConfig:
    """What the command line asks for, checked before the tracking store is opened."""
    if init not in INITS:
        raise UserError(f"unknown init {init!r}: use one of {', '.join(INITS)}")
    if epochs < 1:
        raise UserError(f"epochs must be at least 1, got {epochs}")
    profile.target(dataset)
    return TrialConfig(**hyperparameters)


def run_train(profile, seed: int, dataset: str, hyperparameters: dict, epochs: int,
              init: str = "pretrained") -> TrialResult:
    config = check_request(profile, dataset, hyperparameters, epochs, init)
    data, manifest = load_prepared(profile, seed, dataset)
    make_backbone = backbone_factory(profile.backbone, prepared_dir(profile.name, seed) / BACKBONE_FILE,
                                     scratch=init == "scratch")
    keras.utils.set_random_seed(seed)  # random (scratch) backbone weights follow the seed too
    backbone = make_backbone()
    n_layers = len(backbone.layers)
    if config.fine_tuned_layers > n_layers:
        raise UserError(f"fine_tuned_layers={config.fine_tuned_layers} is larger than the "
                        f"{profile.backbone.name} backbone ({n_layers} layers)")
    minimum = min_input_size(profile.backbone.name)
    if config.input_size < minimum:
        raise UserError(f"input_size={config.input_size} is below the {profile.backbone.name} minimum of {minimum}")

    tags = {**tracking.provenance_tags("train", profile, seed, manifest["data_checksum"]),
            "dataset": dataset, "init": init}
    name = f"{dataset} {config.optimizer} lr={config.learning_rate:g} k={config.fine_tuned_layers}"
    try:
        with tracking.stage_run("train", name, tags):
            tracking.log_params({**config.as_dict(), "dataset": dataset, "epochs": epochs, "init": init})
            tracking.log_inputs(mlflow_ui.dataset_inputs(prepared_dir(profile.name, seed), manifest, dataset))

            def report(m: EpochMetrics):
                tracking.log_epoch(m.metrics(), m.epoch)
                print(progress_line(m, epochs), flush=True)

            result = fine_tune(config, data, epochs, backbone_factory=lambda: backbone, min_input_size=minimum,
                               scaling=input_scaling(profile.backbone.name), on_epoch=report, seed=seed,
                               feature_cache=cache_for(profile.cache))
            tracking.log_metrics({"test_accuracy": result.test_accuracy, "final_val_accuracy": result.val_accuracy,
                                  "epoch_seconds": statistics.mean(m.seconds for m in result.history)})
            print(f"{dataset}: val_accuracy {result.val_accuracy:.4f} test_accuracy {result.test_accuracy:.4f}",
                  flush=True)
    except TrainingDiverged as e:  # the run is FAILED, with the reason as tag `error`
        raise UserError(f"the training diverged: {e}: try a lower learning rate") from None
    return result
