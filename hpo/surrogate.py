"""A surrogate of a recorded table: a model of its learning curves that gives every configuration
its own curve, where the nearest lookup (hpo/recorded.py) gives a design point's.

A random forest (scikit-learn) on the normalised configuration (the nearest lookup's coordinates,
the optimizer one-hot) and the epoch predicts each epoch's validation and test accuracy and
seconds, fitted on every usable epoch of every design point. The noise of training comes from the
recorded training seeds: where the table trained a configuration several times (the grid points,
`record.grid_seeds`), each training's deviation from its configuration's mean curve is one noise
curve (accuracies in logits, so that the noise of a curve near 1 stays below 1). One of them,
drawn from the search seed and the configuration, is added to the configuration's predicted
curve, so a search meets a proposal as one training of it, and another search seed as another.
A table without replicas lends the forest's out-of-bag residuals instead, which also hold the
model's own error (a diverged neighbour's residual is large).
`cross_validated_error` says how far it is from configurations it never saw (folds of whole
configurations).
"""

from __future__ import annotations

import json
import math
import random
from typing import Callable

import numpy as np

from hpo.recorded import CURVES, Point, coordinates, usable

PREDICTED = ("val_accuracy", "test_accuracy", "epoch_seconds")
TREES = 100
ACCURACY = slice(0, 2)  # PREDICTED's accuracies: their noise is in logits, so it shrinks near 0 and 1
EPS = 1e-3  # accuracies are clipped to [EPS, 1 - EPS] before their logit


def noise_scale(y: np.ndarray) -> np.ndarray:
    """PREDICTED values (rows) on the scale their noise adds on: logits of the accuracies, seconds."""
    out = np.array(y, dtype=float)
    p = np.clip(out[..., ACCURACY], EPS, 1 - EPS)
    out[..., ACCURACY] = np.log(p / (1 - p))
    return out


def from_noise_scale(z: np.ndarray) -> np.ndarray:
    out = np.array(z, dtype=float)
    out[..., ACCURACY] = 1 / (1 + np.exp(-out[..., ACCURACY]))
    out[..., 2] = np.maximum(out[..., 2], 0.0)
    return out


class Surrogate:
    def __init__(self, points: list[Point], space: dict, epochs: int, seed: int = 0):
        from sklearn.ensemble import RandomForestRegressor

        self.space, self.epochs, self.seed = space, epochs, seed
        self.optimizers = sorted(space["optimizer"])
        self.x, self.y, self.groups, trainings = self._rows(points)
        self.forest = RandomForestRegressor(n_estimators=TREES, min_samples_leaf=2, oob_score=True,
                                            random_state=seed, n_jobs=1).fit(self.x, self.y)
        self.noise_curves = self._replica_noise(trainings) or self._residual_noise(trainings)
        self._curves: dict[str, dict[str, list[float]]] = {}

    def _features(self, config: dict, epochs: np.ndarray) -> np.ndarray:
        base = coordinates(config, self.space) + [float(config.get("optimizer") == o) for o in self.optimizers]
        return np.column_stack([np.tile(base, (len(epochs), 1)), epochs / self.epochs])

    def _rows(self, points: list[Point]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features and targets of every usable epoch; each row's configuration and training."""
        xs, ys, groups, trainings = [], [], [], []
        names = {json.dumps(p.config, sort_keys=True): i for i, p in enumerate(points)}  # replicas share a group
        for p in points:
            n = usable(p)
            if n < 1:
                continue
            xs.append(self._features(p.config, np.arange(1, n + 1)))
            ys.append(np.column_stack([p.curves[k][:n] for k in PREDICTED]))
            groups += [names[json.dumps(p.config, sort_keys=True)]] * n
            trainings += [p.index] * n
        return np.vstack(xs), np.vstack(ys), np.array(groups), np.array(trainings)

    def _replica_noise(self, trainings: np.ndarray) -> list[np.ndarray]:
        """Per training of a configuration trained k >= 2 times, its deviation from their mean curve
        over the epochs all k trained, scaled by sqrt(k / (k - 1)) (a deviation from the mean of k
        is smaller than one from the expected curve)."""
        out = []
        for group in np.unique(self.groups):
            rows = self.groups == group
            its = np.unique(trainings[rows])
            if len(its) < 2:
                continue
            n = min(int((trainings == t).sum()) for t in its)
            curves = np.stack([noise_scale(self.y[trainings == t][:n]) for t in its])
            out += list((curves - curves.mean(axis=0)) * math.sqrt(len(its) / (len(its) - 1)))
        return out

    def _residual_noise(self, trainings: np.ndarray) -> list[np.ndarray]:
        """Per training, its curve's out-of-bag residuals from the forest."""
        residuals = noise_scale(self.y) - noise_scale(self.forest.oob_prediction_)
        return [residuals[trainings == t] for t in np.unique(trainings)]

    def curve(self, config: dict) -> dict[str, list[float]]:
        """The predicted mean curve of `config`, epochs 1 to R."""
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in self._curves:
            predicted = self.forest.predict(self._features(config, np.arange(1, self.epochs + 1)))
            self._curves[key] = {k: [float(v) for v in predicted[:, i]] for i, k in enumerate(PREDICTED)}
        return self._curves[key]

    def for_search(self, search_seed: int, recorded_seed: int = 0) -> Callable[[dict], Point]:
        """The lookup of one search: each configuration's predicted curve plus one noise curve,
        drawn from the search seed and the configuration (a noise curve shorter than R lends its
        last value to the epochs after it)."""
        def lookup(config: dict) -> Point:
            key = json.dumps(config, sort_keys=True, default=str)
            noise = self.noise_curves[random.Random(f"{search_seed} {key}").randrange(len(self.noise_curves))]
            noise = noise[np.minimum(np.arange(self.epochs), len(noise) - 1)]
            mean = self.curve(config)
            noisy = from_noise_scale(noise_scale(np.column_stack([mean[k] for k in PREDICTED])) + noise)
            curves = {k: [float(v) for v in noisy[:, i]] for i, k in enumerate(PREDICTED)}
            curves |= {k: [math.nan] * self.epochs for k in CURVES if k not in curves}
            return Point(-1, "surrogate", dict(config), curves)
        return lookup

    def cross_validated_error(self, folds: int = 5) -> dict[str, float]:
        """Mean absolute error of the mean curve on configurations left out of the fit (GroupKFold
        over configurations): of validation accuracy at every epoch and at R, of test accuracy at R."""
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.model_selection import GroupKFold

        x, y, groups = self.x, self.y, self.groups
        at_r = x[:, -1] == 1.0
        errors = np.zeros_like(y)
        for train, held in GroupKFold(n_splits=min(folds, len(set(groups)))).split(x, y, groups):
            forest = RandomForestRegressor(n_estimators=TREES, min_samples_leaf=2, random_state=self.seed,
                                           n_jobs=1).fit(x[train], y[train])
            errors[held] = np.abs(forest.predict(x[held]) - y[held])
        return {"val_mae": float(errors[:, 0].mean()), "val_mae_at_R": float(errors[at_r, 0].mean()),
                "test_mae_at_R": float(errors[at_r, 1].mean()), "seconds_mae": float(errors[:, 2].mean())}
