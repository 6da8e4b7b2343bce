"""The output of `prepare`: fixed splits per dataset, stored once so every stage trains and
scores on the same images, plus a manifest with their checksums."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from hpo.data.base import LabelledImages, SplitData, load
from hpo.data.splits import Split, split_indices
from hpo.errors import UserError, one_line

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
    images = load(spec.format, spec.path, **spec.loader_options())
    return images.select_classes(list(spec.classes)) if spec.classes else images


def split_images(images: LabelledImages, spec, seed: int) -> tuple[SplitData, Split]:
    """The dataset's split (test set balanced) and the indices it took."""
    split = split_indices(images.labels, spec.train, spec.val, spec.test_per_class, seed, name=spec.name,
                          class_names=images.class_names)
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


DAMAGED = "run `hpo prepare --force`"


def load_split(path: Path, name: str) -> SplitData:
    try:
        with np.load(path, allow_pickle=False) as f:
            data = SplitData(name, *(f[n] for n in ARRAYS), tuple(str(c) for c in f["class_names"]))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"prepared split {path} is unreadable ({one_line(e, 200)}): {DAMAGED}") from None
    problem = _inconsistency(data)
    if problem:
        raise UserError(f"prepared split {path} is damaged ({problem}): {DAMAGED}")
    return data


def _inconsistency(data: SplitData) -> str | None:
    """What makes arrays unusable for training, checked before any of them reaches a framework."""
    n_classes = len(data.class_names)
    for part in ("train", "val", "test"):
        x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
            return f"{part}: images of shape {x.shape} and labels of shape {y.shape}"
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and (y.min() < 0 or y.max() >= n_classes)):
            return f"{part}: labels outside 0..{n_classes - 1}"
    return None


def read_manifest(directory: Path) -> dict | None:
    """The folder's manifest; None if it has none."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:  # ValueError: bad JSON or bad UTF-8
        raise UserError(f"the prepared folder {directory} is damaged ({MANIFEST}: {one_line(e, 200)}): "
                        f"{DAMAGED}") from None
    missing = [k for k in ("profile_checksum", "seed", "data_checksum", "datasets") if k not in manifest] \
        if isinstance(manifest, dict) else ["(not a mapping)"]
    if missing:
        raise UserError(f"the prepared folder {directory} is damaged ({MANIFEST} lacks {', '.join(missing)}): "
                        f"{DAMAGED}")
    return manifest


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
    if manifest["seed"] != seed:  # a copy or a link of another seed's folder: its runs would claim the wrong seed
        raise UserError(f"the data in {directory} was prepared with seed {manifest['seed']}, not {seed}: "
                        f"run `hpo prepare --profile {profile.argument} --seed {seed} --force`")
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
