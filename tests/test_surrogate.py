"""The surrogate of a recorded table, on synthetic curves (no Keras, no store): a curve for every
configuration, the noise of training drawn per search seed, its held-out error, and every method
replayed on it within budget."""

import math

import numpy as np
import pytest

from hpo.budget import Budget
from hpo.executor.replay import ReplayDriver
from hpo.search.loop import run_search
from hpo.search.registry import entry, names
from hpo.surrogate import Surrogate
from tests.executor.test_replay import FIXED, PROFILE, synthetic_table


@pytest.fixture(scope="module")
def surrogate():
    table = synthetic_table()
    return Surrogate(table.points("fashion"), table.space, 25), table


def test_every_configuration_gets_its_own_curve_within_bounds(surrogate):
    model, table = surrogate
    a, b = (p.config for p in table.points("fashion")[16:18])
    lookup = model.for_search(3)
    for config in (a, b):
        point = lookup(config)
        assert point.trained == 25 and point.index == -1 and point.config == config
        assert all(0 <= v <= 1 for v in point.curves["val_accuracy"] + point.curves["test_accuracy"])
        assert all(v >= 0 for v in point.curves["epoch_seconds"])
    assert lookup(a).curves != lookup(b).curves
    between = {**a, "learning_rate": (a["learning_rate"] * b["learning_rate"]) ** 0.5}  # no design point has it
    assert lookup(between).curves["val_accuracy"] != lookup(a).curves["val_accuracy"]


def test_the_noise_of_training_is_fixed_by_search_seed_and_configuration(surrogate):
    model, table = surrogate
    config = table.points("fashion")[20].config
    assert model.for_search(1)(config).curves == model.for_search(1)(config).curves
    draws = {tuple(model.for_search(seed)(config).curves["val_accuracy"]) for seed in range(10)}
    assert len(draws) > 5  # different trainings of one configuration
    mean = model.curve(config)["val_accuracy"]
    assert all(abs(u - v) < 0.5 for u, v in zip(model.for_search(0)(config).curves["val_accuracy"], mean, strict=True))


def test_the_noise_of_training_is_that_of_the_recorded_replicas(surrogate):
    model, table = surrogate
    assert len(model.noise_curves) == 16 * PROFILE.record.grid_seeds  # each training of a grid point
    for first in range(16):  # the deviations of one configuration's trainings add up to nothing
        assert np.allclose(sum(model.noise_curves[first * PROFILE.record.grid_seeds + k]
                               for k in range(PROFILE.record.grid_seeds)), 0)
    unreplicated = table.points("fashion")[:128]  # the grid's first trainings and the drawn points
    assert len(Surrogate(unreplicated, table.space, 25).noise_curves) == 128  # their out-of-bag residuals


def test_its_held_out_error_is_small_on_smooth_curves(surrogate):
    model, _ = surrogate
    error = model.cross_validated_error()
    assert set(error) == {"val_mae", "val_mae_at_R", "test_mae_at_R", "seconds_mae"}
    assert 0 < error["val_mae_at_R"] < 0.15 and 0 < error["val_mae"] < 0.15  # accuracies span 0.25 to 0.95


@pytest.mark.parametrize("method", names())
def test_every_method_replays_within_budget_on_the_surrogate(surrogate, method):
    model, _ = surrogate
    driver = ReplayDriver(model.for_search(7), 4)
    result = run_search(entry(method).build(PROFILE, 7, FIXED), Budget(400), driver, progress=None)
    assert result.budget_used <= 400 and not math.isnan(result.best_val) and result.n_failed == 0
