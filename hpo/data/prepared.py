"""The output of `prepare`: fixed splits per dataset, stored once so every stage trains and
scores on the same images, plus a manifest with their checksums."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from hpo.data.base import LabelledImages, SplitData, load
from hpo.data.splits import Split, split_indices
from hpo.errors import UserError

ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
MANIFEST = "manifest.json"
BACKBONE_FILE = "backbone.keras"


def subset_file(name: str) -> str:
    """The prepared file of one Study III subset (hpo/data/subsets.py)."""
    return f"subset-{name}.npz"


def prepared_dir(profile_name: str, seed: int) -> Path:
    root = Path(os.environ.get("HPO_PREPARED_DIR", "prepared"))
    return root / f"{profile_name}-seed{seed}"


def load_images(spec) -> LabelledImages:
    """A dataset's labelled images as its profile entry says (its classes, relabelled 0..n-1)."""
    images = load(spec.format, spec.path)
    return images.select_classes(list(spec.classes)) if spec.classes else images


def split_images(images: LabelledImages, spec, seed: int) -> tuple[SplitData, Split]:
    """The dataset's split (test set balanced) and the indices it took."""
    split = split_indices(images.labels, spec.train, spec.val, spec.test_per_class, seed, name=spec.name)
    x, y = images.images, images.labels
    return SplitData(spec.name, x[split.train], y[split.train], x[split.val], y[split.val],
                     x[split.test], y[split.test], images.class_names), split


def build_split(spec, seed: int) -> SplitData:
    """Load a dataset as its profile entry says and split it (test set balanced)."""
    return split_images(load_images(spec), spec, seed)[0]


def checksum(data: SplitData) -> str:
    """sha256 over the arrays' bytes and shapes (stable, unlike the bytes of an .npz file)."""
    digest = hashlib.sha256()
    for name in ARRAYS:
        array = np.ascontiguousarray(getattr(data, name))
        digest.update(f"{name}{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    digest.update("|".join(data.class_names).encode())
    return digest.hexdigest()


def combined_checksum(checksums: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{k}={v};" for k, v in sorted(checksums.items())).encode()).hexdigest()


def save_split(data: SplitData, path: Path) -> None:
    np.savez(path, class_names=np.array(data.class_names), **{n: getattr(data, n) for n in ARRAYS})


def load_split(path: Path, name: str) -> SplitData:
    try:
        with np.load(path, allow_pickle=False) as f:
            return SplitData(name, *(f[n] for n in ARRAYS), tuple(str(c) for c in f["class_names"]))
    except (OSError, KeyError, ValueError) as e:
        raise UserError(f"prepared split {path} is unreadable ({e}): run `hpo prepare` again") from None


def read_manifest(directory: Path) -> dict | None:
    path = directory / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def write_manifest(directory: Path, manifest: dict) -> None:
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def require_prepared(profile, seed: int) -> tuple[Path, dict]:
    """The prepared folder of this profile and seed, or a clear error saying how to make it."""
    directory = prepared_dir(profile.name, seed)
    manifest = read_manifest(directory)
    hint = f"run `hpo prepare --profile {profile.argument} --seed {seed}` first"
    if manifest is None:
        raise UserError(f"no prepared data in {directory}: {hint}")
    if manifest.get("profile_checksum") != profile.prepare_checksum:
        raise UserError(f"the data in {directory} was prepared from another version of profile {profile.name} "
                        f"(other datasets, backbone or subset settings): {hint}")
    return directory, manifest


def _load_checked(path: Path, name: str, expected: str, hint: str) -> SplitData:
    data = load_split(path, name)
    if checksum(data) != expected:
        raise UserError(f"prepared split {path} does not match its checksum: {hint}")
    return data


def load_prepared(profile, seed: int, dataset: str) -> tuple[SplitData, dict]:
    directory, manifest = require_prepared(profile, seed)
    profile.target(dataset)
    if dataset not in manifest["datasets"]:
        raise UserError(f"dataset {dataset} was not prepared in {directory}: run `hpo prepare` again")
    data = _load_checked(directory / f"{dataset}.npz", dataset, manifest["datasets"][dataset]["checksum"],
                         "run `hpo prepare --force`")
    return data, manifest


def load_subset(profile, seed: int, name: str) -> tuple[SplitData, dict]:
    """One Study III subset as `prepare` saved it (named after its target dataset), checked
    against the manifest; and the manifest's description of it."""
    directory, manifest = require_prepared(profile, seed)
    subsets = manifest.get("subsets", {}).get("sets", {})
    if name not in subsets:
        raise UserError(f"subset {name} was not prepared in {directory}: the profile needs a `subset` section, "
                        f"then run `hpo prepare --profile {profile.argument} --seed {seed}`")
    data = _load_checked(directory / subset_file(name), manifest["subsets"]["dataset"], subsets[name]["checksum"],
                         "run `hpo prepare --force`")
    return data, subsets[name]
