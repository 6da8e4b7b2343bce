"""A recorded table: learning curves of a fixed design of configurations per dataset, trained
once (`hpo record`) and looked up by `hpo replay` instead of training.

The design is every grid point, in the grid's order, then `record.random_points` configurations
drawn from the applied space with the study's seed (at random, or a scrambled Sobol sequence),
then the grid points again until each has `record.grid_seeds` trainings (replicas); each point
trains, as trial t with seed seed + t, to the longest epoch count any method uses, logging every
epoch's validation and test accuracy, losses and seconds. Grid point t is so trained exactly as
live grid search trains its trial t (same configuration, same seed), and a replayed grid search
of the recording's seed gives the live Table 6 entry.

A configuration a searcher proposes maps to the nearest design point in the normalised space:
learning rate and dropout scaled to [0, 1] over the applied range (log where the range is log),
an ordinal choice (fine-tuned layers, input size, batch size) by its position among the choices,
an unordered one (the optimizer) 0 if equal, else 1; a tie goes to the earlier point. Where the
nearest configuration was trained several times, the recording's seed looks up its first
training, and every other search seed one of them, drawn from the search seed and the point, so
that replayed searches meet the noise of training again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from hpo.errors import UserError
from hpo.search import registry
from hpo.space import config_space, constants, grid_points, sample_configurations, sobol_configurations

FORMAT = "hpo-recorded-table/1"
SHIPPED_DIR = Path(__file__).resolve().parent / "tables"  # tables recorded once and shipped with the suite
CURVES = ("val_accuracy", "test_accuracy", "val_loss", "train_loss", "train_accuracy", "epoch_seconds")
ORDINAL = ("fine_tuned_layers", "input_size", "batch_size")


def design(profile, seed: int) -> list[tuple[str, dict]]:
    """(source, configuration) of every design point: the grid's, the drawn ones, then the grid's
    replicas (the same configurations, trained with other seeds)."""
    cs, spec = config_space(profile.space.applied), profile.record
    sobol = spec.design == "sobol"
    draw, source = (sobol_configurations, "sobol") if sobol else (sample_configurations, registry.DRAWN_POINTS)
    drawn = draw(cs, spec.random_points, seed) if spec.random_points else []
    grid = grid_points(profile.space.grid, constants(cs))
    return ([(registry.GRID_POINTS, p) for p in grid] + [(source, c) for c in drawn]
            + [(registry.GRID_POINTS, p) for _ in range(spec.grid_seeds - 1) for p in grid])


def profile_settings(profile) -> dict:
    """Every setting of the profile (its description aside), as a table records them: what says,
    when the profile's checksum differs from the table's, which settings changed."""
    return profile.model_dump(mode="json", exclude={"source_file", "checksum", "description"})


def _flat(data, path: str = "") -> dict[str, object]:
    if isinstance(data, dict) and data:
        return {k: v for key, value in data.items() for k, v in _flat(value, f"{path}{key}.").items()}
    return {path.rstrip("."): data}


def differences(recorded: dict, current: dict) -> list[str]:
    """`key recorded -> current` for every setting that differs, by dotted key."""
    old, new = _flat(recorded), _flat(current)
    return [f"{key} {json.dumps(old.get(key))} -> {json.dumps(new.get(key))}"
            for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]


def epochs(profile) -> int:
    """The longest any registered method trains one configuration (grid, random and TPE's epochs
    per configuration, ASHA's and Hyperband's R, ...): what a table must cover."""
    return max(entry.longest_job(profile) for entry in registry.registry().values())


@dataclass
class Point:
    index: int
    source: str  # grid or random
    config: dict
    curves: dict[str, list[float]]  # CURVES -> one value per epoch trained (shorter where it failed)
    error: str | None = None

    @property
    def trained(self) -> int:
        return len(self.curves["val_accuracy"])


@dataclass
class Table:
    provenance: dict
    space: dict  # the applied space the design was drawn from (profiles.SpaceSpec, as JSON)
    datasets: dict[str, list[Point]] = field(default_factory=dict)
    checksum: str = ""  # sha256 of the file it was read from

    def points(self, dataset: str) -> list[Point]:
        if dataset not in self.datasets:
            raise UserError(f"the recorded table has no dataset {dataset!r} (it has {', '.join(self.datasets)}): "
                            f"record it with hpo record --datasets {dataset}")
        return self.datasets[dataset]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "provenance": self.provenance, "space": self.space,
                           "datasets": {name: [{"point": p.index, "source": p.source, "config": p.config,
                                                "error": p.error, **p.curves} for p in points]
                                        for name, points in self.datasets.items()}}, indent=1) + "\n"


def save(table: Table, path: Path) -> None:
    """Write the table (whole or not at all; gzip-compressed where the name ends in .gz, with no
    time stamp, so the same table gives the same bytes) and set its checksum: that of its JSON,
    compressed or not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    data = table.to_json().encode()
    partial.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    partial.rename(path)
    table.checksum = hashlib.sha256(data).hexdigest()


def shipped(profile_name: str, seed: int) -> Path:
    """Where the suite ships the table it recorded of a bundled profile."""
    return SHIPPED_DIR / f"{profile_name}-seed{seed}.json.gz"


def load(path: str | Path) -> Table:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"recorded table {path} not found: make it with hpo record (or dvc repro record)")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        datasets = {name: [Point(p["point"], p["source"], p["config"], {k: p[k] for k in CURVES}, p.get("error"))
                           for p in points] for name, points in data["datasets"].items()}
        _check_values(data["provenance"], datasets)
        return Table(data["provenance"], data["space"], datasets, hashlib.sha256(raw).hexdigest())
    except (ValueError, KeyError, TypeError, AttributeError, OSError, EOFError) as e:  # OSError: not gzip
        raise UserError(f"recorded table {path} is not one hpo record wrote ({e}): record it again") from None


def _number(value, positive: bool = False) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (
        not positive or (math.isfinite(value) and value > 0))


def _check_values(provenance, datasets: dict[str, list[Point]]) -> None:
    """What replay computes with is there and numbers; a ValueError naming the first that is not."""
    if not isinstance(provenance, dict):
        raise ValueError("its provenance is not a mapping")
    if not _number(provenance.get("epochs", 0)):
        raise ValueError(f"provenance.epochs is {provenance.get('epochs')!r}")
    for name, points in datasets.items():
        if not points:
            raise ValueError(f"dataset {name} has no design points")
        for p in points:
            where = f"design point {p.index} of {name}"
            if not isinstance(p.config, dict) or not _number(p.config.get("learning_rate"), positive=True) \
                    or not _number(p.config.get("dropout")) \
                    or any(not _number(p.config[k]) for k in ORDINAL if k in p.config):
                raise ValueError(f"{where} has no configuration of numbers")
            for key, curve in p.curves.items():
                if not isinstance(curve, list) or not all(_number(v) for v in curve):
                    raise ValueError(f"{where}: {key} is not a list of numbers")


def coordinates(config: dict, space: dict) -> list[float]:
    """`config` in the normalised space of the nearest lookup (see the module's docstring)."""
    out = []
    for name in ("learning_rate", "dropout"):
        r = space[name]
        low, high, value = r["low"], r["high"], float(config[name])
        if r.get("log"):
            low, high, value = math.log(low), math.log(high), math.log(value)
        out.append((value - low) / (high - low) if high > low else 0.0)
    for name in ORDINAL:
        choices = sorted(space[name])
        value = config.get(name, choices[0])
        position = choices.index(value) if value in choices else min(
            range(len(choices)), key=lambda i: abs(choices[i] - value))
        out.append(position / (len(choices) - 1) if len(choices) > 1 else 0.0)
    return out


def usable(point: Point) -> int:
    """Epochs of the point's curve a job can end at (a failed trial's last logged epoch is where it failed)."""
    return point.trained - (1 if point.error else 0)


class Nearest:
    """Maps a configuration to the nearest design point (see the module's docstring)."""

    def __init__(self, points: list[Point], space: dict):
        self.points, self.space = points, space
        self.matrix = np.array([coordinates(p.config, space) for p in points])
        self.optimizers = [p.config.get("optimizer") for p in points]
        trainings: dict[str, list[Point]] = {}  # a configuration -> its trainings, in design order
        for p in points:
            trainings.setdefault(json.dumps(p.config, sort_keys=True), []).append(p)
        self.replicas = {p.index: group for group in trainings.values() for p in group}

    def __call__(self, config: dict) -> Point:
        distance = np.abs(self.matrix - np.array(coordinates(config, self.space))).sum(axis=1)
        distance += np.array([o != config.get("optimizer") for o in self.optimizers], dtype=float)
        return self.points[int(np.argmin(distance))]  # argmin: the first of equal distances

    def for_search(self, search_seed: int, recorded_seed: int) -> Callable[[dict], Point]:
        """The lookup of one search: the nearest point's first training for the recording's own
        seed, else one of its trainings drawn from the search seed and the point."""
        if search_seed == recorded_seed:
            return self

        def lookup(config: dict) -> Point:
            first = self(config)
            group = self.replicas[first.index]
            return group[random.Random(f"{search_seed} {first.index}").randrange(len(group))]
        return lookup
