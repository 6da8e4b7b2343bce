import math

import numpy as np
import pytest
from ConfigSpace import CategoricalHyperparameter, Constant, OrdinalHyperparameter, UniformFloatHyperparameter
from hyperopt import pyll
from skopt.space import Categorical, Real

from hpo.profiles import load_profile
from hpo.space import config_space, grid_points, sample_configurations, sobol_configurations, to_hyperopt, to_skopt

PAPER = load_profile("paper")
EMBEDDED = load_profile("embedded")


def _hp(cs, name):
    return cs[name]


def test_paper_initial_space_is_table_2a():
    cs = config_space(PAPER.space.initial)
    lr = _hp(cs, "learning_rate")
    assert isinstance(lr, UniformFloatHyperparameter) and (lr.lower, lr.upper, lr.log) == (1e-5, 0.1, True)
    dropout = _hp(cs, "dropout")
    assert (dropout.lower, dropout.upper, dropout.log) == (0.01, 0.4, False)
    assert isinstance(_hp(cs, "optimizer"), CategoricalHyperparameter)
    assert set(_hp(cs, "optimizer").choices) == {"adam", "adadelta", "rmsprop", "sgd"}
    assert isinstance(_hp(cs, "fine_tuned_layers"), OrdinalHyperparameter)
    assert list(_hp(cs, "fine_tuned_layers").sequence) == [0, 9, 14, 18, 132]
    assert list(_hp(cs, "input_size").sequence) == [71, 128, 256]
    assert list(_hp(cs, "batch_size").sequence) == [16, 32, 64]


def test_paper_applied_space_is_table_2b():
    cs = config_space(PAPER.space.applied)
    lr = _hp(cs, "learning_rate")
    assert (lr.lower, lr.upper, lr.log) == (1e-4, 0.03, True)
    assert (_hp(cs, "dropout").lower, _hp(cs, "dropout").upper) == (0.01, 0.4)
    assert set(_hp(cs, "optimizer").choices) == {"adam", "adadelta", "rmsprop", "sgd"}
    assert list(_hp(cs, "fine_tuned_layers").sequence) == [9, 14, 18, 132]
    assert isinstance(_hp(cs, "input_size"), Constant) and _hp(cs, "input_size").value == 256
    assert isinstance(_hp(cs, "batch_size"), Constant) and _hp(cs, "batch_size").value == 16


def test_paper_grid_is_exactly_the_16_points():
    points = grid_points(PAPER.space.grid, fixed={"input_size": 256, "batch_size": 16})
    expected = {(lr, opt, k, 0.2, 256, 16) for lr in (0.001, 0.01) for opt in ("adam", "rmsprop")
                for k in (9, 14, 18, 132)}
    got = [(p["learning_rate"], p["optimizer"], p["fine_tuned_layers"], p["dropout"], p["input_size"],
            p["batch_size"]) for p in points]
    assert len(got) == 16 and set(got) == expected
    applied = config_space(PAPER.space.applied)
    for p in points:  # every grid point lies in the applied space (Table 2B)
        assert applied["learning_rate"].lower <= p["learning_rate"] <= applied["learning_rate"].upper
        assert p["fine_tuned_layers"] in applied["fine_tuned_layers"].sequence


def test_embedded_space_is_the_scaled_analogue():
    cs = config_space(EMBEDDED.space.initial)
    assert list(cs["fine_tuned_layers"].sequence) == [0, 9, 14, 18, 42]
    assert (cs["learning_rate"].lower, cs["learning_rate"].upper) == (1e-5, 0.1)
    assert len(grid_points(EMBEDDED.space.grid)) == 16


def test_sampling_is_seeded_and_in_range():
    cs = config_space(PAPER.space.initial)
    a, b = sample_configurations(cs, 20, seed=3), sample_configurations(cs, 20, seed=3)
    assert a == b and a != sample_configurations(cs, 20, seed=4)
    for c in a:
        assert 1e-5 <= c["learning_rate"] <= 0.1 and type(c["fine_tuned_layers"]) is int
        assert c["optimizer"] in ("adam", "adadelta", "rmsprop", "sgd") and type(c["optimizer"]) is str


def test_hyperopt_space_keeps_log_scale_and_categories():
    space = to_hyperopt(config_space(PAPER.space.applied))
    assert space["input_size"] == 256 and space["batch_size"] == 16
    rng = np.random.default_rng(0)
    draws = [pyll.stochastic.sample(space, rng=rng) for _ in range(2000)]
    lrs = np.array([d["learning_rate"] for d in draws])
    assert lrs.min() >= 1e-4 and lrs.max() <= 0.03
    # log-uniform: the median is the geometric mean of the bounds (uniform would give ~0.015)
    assert abs(math.log(np.median(lrs)) - math.log(math.sqrt(1e-4 * 0.03))) < 0.15
    assert {d["fine_tuned_layers"] for d in draws} == {9, 14, 18, 132}
    assert {d["optimizer"] for d in draws} == {"adam", "adadelta", "rmsprop", "sgd"}


def test_skopt_dimensions_keep_log_scale_and_categories():
    dims = {d.name: d for d in to_skopt(config_space(PAPER.space.applied))}
    assert isinstance(dims["learning_rate"], Real) and dims["learning_rate"].prior == "log-uniform"
    assert dims["learning_rate"].bounds == (1e-4, 0.03)
    assert isinstance(dims["dropout"], Real) and dims["dropout"].prior == "uniform"
    assert isinstance(dims["fine_tuned_layers"], Categorical)
    assert list(dims["fine_tuned_layers"].categories) == [9, 14, 18, 132]
    assert list(dims["input_size"].categories) == [256]


@pytest.mark.parametrize("profile", [PAPER, EMBEDDED])
def test_grid_points_lie_in_the_skopt_space(profile):
    from skopt.space import Space
    space = Space(to_skopt(config_space(profile.space.applied)))
    names = [d.name for d in space.dimensions]
    fixed = {"input_size": profile.space.applied.input_size[0], "batch_size": profile.space.applied.batch_size[0]}
    for p in grid_points(profile.space.grid, fixed):
        assert [p[n] for n in names] in space


def test_a_sobol_design_covers_the_applied_space_evenly():
    cs = config_space(EMBEDDED.space.applied)
    design = sobol_configurations(cs, 112, seed=0)
    assert design == sobol_configurations(cs, 112, seed=0) != sobol_configurations(cs, 112, seed=1)
    assert [list(c) for c in design] == [list(cs)] * 112 and all(type(c["dropout"]) is float for c in design)
    applied = EMBEDDED.space.applied
    for name in ("optimizer", "fine_tuned_layers"):  # every choice equally often
        counts = {v: sum(c[name] == v for c in design) for v in getattr(applied, name)}
        assert set(counts.values()) == {112 // len(counts)}, counts
    for name, spec in (("learning_rate", applied.learning_rate), ("dropout", applied.dropout)):
        values = np.array([c[name] for c in design])
        assert spec.low <= values.min() and values.max() <= spec.high
        scaled = np.log(values / spec.low) / np.log(spec.high / spec.low) if spec.log else \
            (values - spec.low) / (spec.high - spec.low)
        assert np.histogram(scaled, bins=8, range=(0, 1))[0].min() >= 12  # each eighth of the range holds 14
    assert {c["input_size"] for c in design} == set(applied.input_size)
