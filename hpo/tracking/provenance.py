"""Provenance: what a stage's run records of where its result came from (the suite's commit,
the Keras backend, package versions, profile, seed, data), and the key that names a study."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONED_PACKAGES = ("tensorflow-cpu", "tensorflow", "torch", "jax", "keras", "mlflow", "numpy", "hyperopt",
                      "scikit-optimize", "ConfigSpace", "fanova", "scikit-learn", "pandas", "dvc")


def git_commit() -> tuple[str, bool]:
    """(commit of the suite's checkout, whether tracked files differ from it)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown", False
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip())
        return head.stdout.strip(), dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def keras_backend() -> str:
    """The backend Keras trains with (KERAS_BACKEND, else ~/.keras/keras.json, else tensorflow)."""
    import keras  # here, not at the top: reading the store needs no deep-learning framework
    return keras.backend.backend()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def provenance_tags(stage: str, profile, seed: int, data_checksum: str) -> dict[str, str]:
    commit, dirty = git_commit()
    tags = {"stage": stage, "profile": profile.name, "profile_file": profile.source_file,
            "profile_checksum": profile.checksum, "seed": str(seed), "git_commit": commit,
            "git_dirty": str(dirty).lower(), "data_checksum": data_checksum, "keras_backend": keras_backend()}
    tags.update({f"version.{name}": v for name, v in package_versions().items()})
    return tags


# A study is its stage, profile, seed, data and own parameters. Run it again and it continues in
# the same study run: every run of its tree carries the key, so a rerun finds them all.
STUDY_KEY = "study_key"


def study_key(stage: str, profile, seed: int, data_checksum: str, **parameters) -> str:
    identity = {"stage": stage, "profile_checksum": profile.checksum, "seed": seed, "data_checksum": data_checksum,
                **parameters}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
