"""A bounded cache of frozen-prefix outputs, keyed by (images, input size, cut point, weights).

Held in memory up to `memory_bytes` (least recently used first out); larger results go to
`.npy` files under `disk_dir` (memory-mapped, so they also serve later stages of a run) up to
`disk_bytes`; anything larger is not cached and the trial trains end to end (a log line says so).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from pathlib import Path

import keras
import numpy as np

from hpo.data.images import to_network_input

log = logging.getLogger(__name__)
CHUNK = 512  # images per prefix pass: bounds the float copy of the inputs


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


class FeatureCache:
    def __init__(self, memory_bytes: int = 1 << 30, disk_dir: Path | None = None, disk_bytes: int = 0):
        self.memory_bytes, self.disk_dir, self.disk_bytes = memory_bytes, disk_dir, disk_bytes
        self._memory: OrderedDict[str, list[np.ndarray]] = OrderedDict()
        self._fingerprints: dict[int, tuple[np.ndarray, str]] = {}
        self.hits = self.misses = self.skips = 0

    def _images_id(self, images: np.ndarray) -> str:
        known = self._fingerprints.get(id(images))
        if known is None or known[0] is not images:
            known = self._fingerprints[id(images)] = (images, fingerprint(images))
        return known[1]

    @staticmethod
    def weights_key(prefix: keras.Model) -> str:
        """Fingerprint of the frozen prefix's weights: hash it once per trial, not once per split."""
        return fingerprint(*(np.asarray(w) for w in prefix.get_weights()))

    def key(self, images: np.ndarray, input_size: int, cut: int, prefix: keras.Model, weights: str,
            scaling: str = "xception") -> str:
        identity = f"{self._images_id(images)}|{input_size}|{cut}|{prefix.name}|{weights}"
        if scaling != "xception":  # keys of Xception-scaled inputs stay those of the disk caches already written
            identity += f"|{scaling}"
        return hashlib.sha1(identity.encode()).hexdigest()

    @property
    def memory_used(self) -> int:
        return sum(a.nbytes for arrays in self._memory.values() for a in arrays)

    def features(self, prefix: keras.Model, images: np.ndarray, input_size: int, cut: int,
                 weights: str | None = None, scaling: str = "xception") -> list[np.ndarray] | None:
        """The prefix's outputs for `images` (one array per boundary tensor), or None if too big.
        `weights` is weights_key(prefix), when the caller already has it; `scaling` how the
        backbone's input is scaled (hpo.data.images.to_network_input)."""
        key = self.key(images, input_size, cut, prefix, weights or self.weights_key(prefix), scaling)
        if key in self._memory:
            self._memory.move_to_end(key)
            self.hits += 1
            return self._memory[key]
        on_disk = self._disk_paths(key, len(prefix.outputs))
        if on_disk and all(p.is_file() for p in on_disk):
            self.hits += 1
            return [np.load(p, mmap_mode="r") for p in on_disk]
        probe = self._run(prefix, images[:1], input_size, scaling)
        size = sum(a.nbytes for a in probe) * len(images)
        if size <= self.memory_bytes:
            self.misses += 1
            arrays = [np.empty((len(images), *a.shape[1:]), a.dtype) for a in probe]
            self._fill(prefix, images, input_size, scaling, arrays)
            while self._memory and self.memory_used + size > self.memory_bytes:
                self._memory.popitem(last=False)
            self._memory[key] = arrays
            return arrays
        if on_disk and size <= self.disk_bytes:
            self.misses += 1
            self.disk_dir.mkdir(parents=True, exist_ok=True)
            # One partial file per process: workers sharing the folder may fill the same key at once
            partial = [p.with_suffix(f".partial-{os.getpid()}.npy") for p in on_disk]
            arrays = [np.lib.format.open_memmap(p, mode="w+", dtype=a.dtype, shape=(len(images), *a.shape[1:]))
                      for p, a in zip(partial, probe, strict=True)]
            self._fill(prefix, images, input_size, scaling, arrays)
            for array, tmp, final in zip(arrays, partial, on_disk, strict=True):
                array.flush()
                tmp.rename(final)  # complete files only: an interrupted fill is never read back
            return [np.load(p, mmap_mode="r") for p in on_disk]
        self.skips += 1
        log.warning("frozen-feature cache: %.0f MB of features exceed the limits (memory %.0f MB, disk %.0f MB); "
                    "training end to end", size / 2**20, self.memory_bytes / 2**20, self.disk_bytes / 2**20)
        return None

    def _disk_paths(self, key: str, n: int) -> list[Path] | None:
        return [self.disk_dir / f"{key}-{i}.npy" for i in range(n)] if self.disk_dir and self.disk_bytes else None

    @staticmethod
    def _run(prefix: keras.Model, images: np.ndarray, input_size: int, scaling: str) -> list[np.ndarray]:
        out = prefix.predict_on_batch(to_network_input(images, input_size, scaling))
        return [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]

    def _fill(self, prefix, images, input_size, scaling, arrays) -> None:
        for start in range(0, len(images), CHUNK):
            chunks = self._run(prefix, images[start:start + CHUNK], input_size, scaling)
            for target, chunk in zip(arrays, chunks, strict=True):
                target[start:start + len(chunk)] = chunk


def cache_for(spec) -> FeatureCache | None:
    """The cache a profile's `cache` section asks for (None when disabled)."""
    if not spec.enabled:
        return None
    return FeatureCache(spec.memory_mb << 20, Path(spec.dir) if spec.disk_mb else None, spec.disk_mb << 20)
