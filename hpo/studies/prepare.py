"""`prepare`: raw data -> fixed splits (test sets balanced), Study III's subsets when the profile
has a `subset` section, and the pretrained compact backbone.

Fine-tuning stages only load what this stage wrote; they never split or pretrain.
"""

from __future__ import annotations

from pathlib import Path

import keras

from hpo import tracking
from hpo.backbone_catalogue import KERAS_APPLICATIONS
from hpo.data.prepared import (
    BACKBONE_FILE,
    build_split,
    checksum,
    combined_checksum,
    load_images,
    prepared_dir,
    read_manifest,
    save_split,
    split_images,
    subset_file,
    write_manifest,
)
from hpo.data.splits import describe
from hpo.data.subsets import build_subsets
from hpo.models.backbones import application, compact, resolve_xception_weights
from hpo.studies.writable import check_folder
from hpo.training import TrialConfig, fine_tune

PRETRAIN_DROPOUT = 0.2  # head dropout while pretraining; the head is thrown away afterwards


def _pretrain(profile, seed: int, directory) -> dict:
    """Train the compact backbone with a head on the source task; keep the backbone."""
    spec, source = profile.backbone.pretrain, build_split(profile.datasets.source, seed)
    keras.utils.set_random_seed(seed)  # the backbone's initial weights, like everything else, follow the seed
    backbone = compact()
    config = TrialConfig(learning_rate=spec.learning_rate, dropout=PRETRAIN_DROPOUT, optimizer="adam",
                         fine_tuned_layers=len(backbone.layers), input_size=spec.input_size,
                         batch_size=spec.batch_size)

    def report(m):
        tracking.log_epoch({f"pretrain_{k}": v for k, v in m.metrics().items()}, m.epoch)
        print(f"pretrain epoch {m.epoch}/{spec.epochs}: val_accuracy {m.val_accuracy:.4f} ({m.seconds:.1f} s)",
              flush=True)

    result = fine_tune(config, source, spec.epochs, backbone_factory=lambda: backbone, on_epoch=report, seed=seed)
    backbone.save(directory / BACKBONE_FILE)
    tracking.log_metrics({"source_test_accuracy": result.test_accuracy})
    print(f"pretrained backbone: source-task test accuracy {result.test_accuracy:.4f}", flush=True)
    return {"file": BACKBONE_FILE, "source": describe(source), "source_test_accuracy": result.test_accuracy,
            "pretrain": spec.model_dump(), "layers": len(backbone.layers)}


def _file_notes(name: str, images) -> dict:
    """What the manifest says of a folder's files that are not in the dataset (printed too)."""
    notes = {}
    if images.ignored_files:
        notes["ignored_files"] = images.ignored_files
        print(f"{name}: {images.ignored_files} file(s) that are not images (JPEG, PNG, BMP, GIF) ignored", flush=True)
    if images.skipped_files:
        notes["skipped_files"] = list(images.skipped_files)
        print(f"{name}: {len(images.skipped_files)} unreadable image(s) skipped (skip_unreadable), listed in the "
              f"manifest; the first: {images.skipped_files[0]}", flush=True)
    return notes


def run_prepare(profile, seed: int, force: bool = False) -> dict:
    directory = prepared_dir(profile.name, seed)
    manifest = None if force else read_manifest(directory)  # --force repairs a damaged folder too
    if manifest and manifest["profile_checksum"] == profile.prepare_checksum and manifest["seed"] == seed:
        print(f"already prepared in {directory} (data checksum {manifest['data_checksum'][:12]}); "
              f"--force prepares again", flush=True)
        return manifest
    check_folder(directory, "the prepared data", "set HPO_PREPARED_DIR to a folder you can write (unset, it is "
                 "prepared)")
    if profile.backbone.name == "xception":
        resolve_xception_weights(profile.backbone.weights)
    elif profile.backbone.name in KERAS_APPLICATIONS and profile.backbone.weights != "none":
        application(profile.backbone.name, profile.backbone.weights)  # its weights load, before any split
    splits, subsets, files = {}, {}, {}
    for spec in profile.datasets.targets:
        images = load_images(spec)
        files[spec.name] = _file_notes(spec.name, images)
        splits[spec.name], split = split_images(images, spec, seed)
        if profile.subset is not None and profile.subset.dataset == spec.name:
            # drawn from the images outside this target's balanced test set, which scores them all
            subsets = build_subsets(images, split.test, profile.subset, seed, spec.name)
    checksums = {name: checksum(data) for name, data in splits.items()}
    subset_checksums = {name: checksum(data) for name, data in subsets.items()}
    data_checksum = combined_checksum({**checksums, **{f"subset-{k}": v for k, v in subset_checksums.items()}})
    directory.mkdir(parents=True, exist_ok=True)
    with tracking.stage_run("prepare", f"prepare {profile.name} seed {seed}",
                            tracking.provenance_tags("prepare", profile, seed, data_checksum)):
        tracking.log_text(Path(profile.source_file).read_text() if profile.source_file else "", "profile.yaml")
        datasets = {}
        for name, data in splits.items():
            save_split(data, directory / f"{name}.npz")
            datasets[name] = {"checksum": checksums[name], **describe(data), **files[name]}
            print(f"{name}: {datasets[name]['train']} train / {datasets[name]['val']} val / "
                  f"{datasets[name]['test']} test (balanced), {data.n_classes} classes", flush=True)
        manifest = {"profile": profile.name, "profile_checksum": profile.prepare_checksum, "seed": seed,
                    "data_checksum": data_checksum, "datasets": datasets, "backbone": {"name": profile.backbone.name}}
        if subsets:
            manifest["subsets"] = {"dataset": profile.subset.dataset, "sets": {}}
            for name, data in subsets.items():
                save_split(data, directory / subset_file(name))
                described = manifest["subsets"]["sets"][name] = {"file": subset_file(name),
                                                                 "checksum": subset_checksums[name], **describe(data)}
                print(f"subset {name} of {profile.subset.dataset}: {described['train']} train "
                      f"{described['train_class_counts']} / {described['val']} val / {described['test']} test",
                      flush=True)
        if profile.backbone.name == "compact" and profile.backbone.weights == "pretrained":
            manifest["backbone"].update(_pretrain(profile, seed, directory))
        write_manifest(directory, manifest)
        tracking.log_dict(manifest, "manifest.json")
    return manifest
