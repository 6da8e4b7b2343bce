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
        if not len(y):
            return f"{part}: no images"
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
    problem = _manifest_problem(manifest)
    if problem:
        raise UserError(f"the prepared folder {directory} is damaged ({MANIFEST} {problem}): {DAMAGED}")
    return manifest


def _entry_problem(where: str, entry, keys: tuple[str, ...]) -> str | None:
    """What is wrong with a dataset's or subset's entry: a mapping with a checksum and its sizes."""
    if not isinstance(entry, dict):
        return f"has {where} that is not a mapping"
    if not isinstance(entry.get("checksum"), str):
        return f"has {where} without a checksum"
    wrong = [k for k in keys if type(entry.get(k)) is not int]
    return f"has {where} without a whole number of {', '.join(wrong)}" if wrong else None


def _manifest_problem(manifest) -> str | None:
    """What is wrong with the parsed manifest's shape, in the words of the error; None if nothing."""
    if not isinstance(manifest, dict):
        return "lacks (not a mapping)"
    missing = [k for k in ("profile_checksum", "seed", "data_checksum", "datasets") if k not in manifest]
    if missing:
        return f"lacks {', '.join(missing)}"
    if type(manifest["seed"]) is not int:
        return f"has seed {manifest['seed']!r}, not a whole number"
    wrong = [k for k in ("profile_checksum", "data_checksum") if not isinstance(manifest[k], str)]
    if wrong:
        return f"has {', '.join(wrong)} that is not text"
    if not isinstance(manifest["datasets"], dict):
        return "has datasets that is not a mapping"
    splits = ("train", "val", "test")
    for name, entry in manifest["datasets"].items():
        problem = _entry_problem(f"datasets.{name}", entry, splits)
        if problem:
            return problem
    subsets = manifest.get("subsets")
    if subsets is None:
        return None
    if not isinstance(subsets, dict) or not isinstance(subsets.get("dataset"), str) \
            or not isinstance(subsets.get("sets"), dict):
        return "has subsets that is not a mapping of its dataset and sets"
    for name, entry in subsets["sets"].items():
        problem = _entry_problem(f"subsets.sets.{name}", entry, splits) or (
            None if isinstance(entry.get("file"), str) else f"has subsets.sets.{name} without a file")
        if problem:
            return problem
    return None


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


def check_prepared(profile, seed: int, datasets: list[str], subsets: list[str] = ()) -> None:
    """Every split a study will train on loads and matches its checksum: damaged data is one line
    before any run, not a failure of every trial (a split is read again where a job trains on it)."""
    for dataset in datasets:
        load_prepared(profile, seed, dataset)
    for name in subsets:
        load_subset(profile, seed, name)


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
