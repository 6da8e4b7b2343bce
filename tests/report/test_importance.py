"""fANOVA importances against synthetic objectives whose variance decomposition is known in closed
form, over a space shaped like the embedded profile's Study I space (Table 2A scaled: log-uniform
learning_rate, uniform dropout, 4 optimizers, 5 ordinal fine_tuned_layers, 3 input sizes, 3 batch
sizes), sampled the way the stage samples (hpo.space.sample_configurations)."""

import math

import numpy as np
import pandas as pd
import pytest

from hpo.errors import UserError
from hpo.profiles import SpaceSpec
from hpo.report.importance import fanova_importances, marginals_json, plot_marginals, read_marginals
from hpo.space import config_space, sample_configurations

LAYERS = [0, 9, 14, 18, 42]
LOW, HIGH = 0.01, 0.4  # dropout
INITIAL = dict(learning_rate={"low": 1e-5, "high": 0.1, "log": True}, dropout={"low": LOW, "high": HIGH},
               optimizer=["adam", "adadelta", "rmsprop", "sgd"], fine_tuned_layers=LAYERS,
               input_size=[32, 48, 64], batch_size=[16, 32, 64])
SPACE = config_space(SpaceSpec(**INITIAL))
SIGN = {"adam": 1, "adadelta": -1, "rmsprop": 1, "sgd": -1}

# Additive objective; every term's variance under the sampling distribution is closed form:
#   a * [log10(lr) > -3]   log10(lr) ~ U(-5, -1), so the step is a Bernoulli(1/2): Var = a^2 / 4
#   b * dropout            dropout ~ U(LOW, HIGH):                  Var = b^2 (HIGH - LOW)^2 / 12
#   c * sign(optimizer)    +-1 with probability 1/2 each:            Var = c^2
#   d * index(layers)      index uniform on 0..4:                    Var = 2 d^2
# input_size and batch_size have no effect. The terms are independent, so the total variance is
# the sum and the fractions are chosen: 0.4, 0.3, 0.2, 0.1, 0, 0. The step in log10(lr) splits the
# log-uniform measure in halves but a uniform one 1% to 99%: an encoding that ignored the log scale
# would find learning_rate unimportant.
TRUTH = {"learning_rate": 0.4, "dropout": 0.3, "optimizer": 0.2, "fine_tuned_layers": 0.1,
         "input_size": 0.0, "batch_size": 0.0}
A = math.sqrt(4 * 0.4)
B = math.sqrt(12 * 0.3) / (HIGH - LOW)
C = math.sqrt(0.2)
D = math.sqrt(0.1 / 2)
NOISE = 0.01  # Var 1e-4 against a total of 1: negligible in the fractions


def additive(config, rng):
    return (A * (math.log10(config["learning_rate"]) > -3) + B * config["dropout"]
            + C * SIGN[config["optimizer"]] + D * LAYERS.index(config["fine_tuned_layers"])
            + NOISE * rng.normal())


def unit_product(config, rng):
    """u * v with u = log10(lr) rescaled to U(0, 1) and v = dropout rescaled to U(0, 1):
    Var(E[f|u]) = Var(u / 2) = 1/48, the same for v, Var(f) = E[u^2]E[v^2] - 1/16 = 7/144, so the
    main effects explain 3/7 each and the (learning_rate, dropout) interaction the last 1/7."""
    u = (math.log10(config["learning_rate"]) + 5) / 4
    v = (config["dropout"] - LOW) / (HIGH - LOW)
    return u * v + NOISE * rng.normal()


def trials(objective, n, seed, space=SPACE):
    configs = sample_configurations(space, n, seed=seed)
    rng = np.random.default_rng(seed)
    return configs, [objective(c, rng) for c in configs]


# 300 trials with leaves of at least 3 (the pairwise analysis of fully grown trees on 300 points
# takes ~30 s; the estimate barely differs).
N = 300
FOREST = {"n_trees": 64, "min_samples_leaf": 3}


@pytest.fixture(scope="module")
def additive_result():
    configs, scores = trials(additive, N, seed=0)
    return fanova_importances(SPACE, configs, scores, seed=0, **FOREST)


def test_individual_importances_match_the_known_decomposition(additive_result):
    imp = dict(zip(additive_result.individual.hyperparameter, additive_result.individual.importance, strict=True))
    assert set(imp) == set(TRUTH)
    # A forest is a piecewise-constant fit of 300 points: it renders the linear terms as staircases
    # and leaks 3-5% of the variance into spurious pair terms, most from the smallest, many-step
    # term (fine_tuned_layers, 0.1 found as ~0.05). Over seeds 0-9 the worst error is 0.06.
    for name, fraction in TRUTH.items():
        assert imp[name] == pytest.approx(fraction, abs=0.08), name
    assert imp["learning_rate"] > imp["dropout"] > imp["optimizer"] > imp["fine_tuned_layers"]
    assert sum(imp.values()) > 0.9
    assert additive_result.n_trials == N


def test_a_hyperparameter_without_effect_gets_no_importance(additive_result):
    imp = dict(zip(additive_result.individual.hyperparameter, additive_result.individual.importance, strict=True))
    assert imp["input_size"] < 0.02 and imp["batch_size"] < 0.02
    pairs = additive_result.pairs
    assert list(pairs.columns) == ["first", "second", "importance", "std"]
    assert len(pairs) == 15  # 6 choose 2
    assert pairs.importance.is_monotonic_decreasing
    assert (pairs.importance < 0.05).all()  # an additive objective has no interaction


def test_marginals_follow_the_objective(additive_result):
    m = additive_result.marginals
    assert m["optimizer"].kind == "categorical" and m["optimizer"].values == list(SPACE["optimizer"].choices)
    assert m["fine_tuned_layers"].kind == "ordinal" and m["fine_tuned_layers"].values == LAYERS
    lr = m["learning_rate"]
    assert lr.kind == "log" and lr.values[0] == pytest.approx(1e-5) and lr.values[-1] == pytest.approx(0.1)
    assert lr.mean[-1] - lr.mean[0] == pytest.approx(A, rel=0.2)
    mean = dict(zip(m["optimizer"].values, m["optimizer"].mean, strict=True))
    gap = (mean["adam"] + mean["rmsprop"] - mean["adadelta"] - mean["sgd"]) / 2
    assert gap == pytest.approx(2 * C, rel=0.2)
    layers = m["fine_tuned_layers"].mean
    assert (np.diff(layers) > 0).all()
    assert all(len(x.mean) == len(x.std) == len(x.values) for x in m.values())


def test_an_interaction_is_the_top_pair():
    configs, scores = trials(unit_product, 200, seed=1)
    result = fanova_importances(SPACE, configs, scores, seed=1, **FOREST)
    top = result.pairs.iloc[0]
    assert {top["first"], top["second"]} == {"learning_rate", "dropout"}
    # true 1/7 = 0.14; over seeds 0-9 found 0.13-0.17 (the staircase fit of u * v moves a few % of
    # the variance between the main and the pair terms), the main effects within 0.07 of 3/7
    assert top["importance"] == pytest.approx(1 / 7, abs=0.07)
    assert result.pairs.importance.iloc[1] < 0.03
    imp = dict(zip(result.individual.hyperparameter, result.individual.importance, strict=True))
    assert imp["learning_rate"] == pytest.approx(3 / 7, abs=0.08)
    assert imp["dropout"] == pytest.approx(3 / 7, abs=0.08)


def test_same_seed_same_result():
    configs, scores = trials(additive, 40, seed=2)
    first = fanova_importances(SPACE, configs, scores, seed=7)
    again = fanova_importances(SPACE, configs, scores, seed=7)
    pd.testing.assert_frame_equal(first.individual, again.individual, check_exact=True)
    pd.testing.assert_frame_equal(first.pairs, again.pairs, check_exact=True)
    for name, marginal in first.marginals.items():
        np.testing.assert_array_equal(marginal.mean, again.marginals[name].mean)
        np.testing.assert_array_equal(marginal.std, again.marginals[name].std)
    other = fanova_importances(SPACE, configs, scores, seed=8)
    assert not first.individual.importance.equals(other.individual.importance)


def test_nan_scores_are_dropped():
    configs, scores = trials(additive, 30, seed=3)
    with_nan = scores[:20] + [math.nan, None, math.inf] + scores[20:27]
    result = fanova_importances(SPACE, configs[:20] + configs[27:] + configs[20:27], with_nan, seed=0)
    clean = fanova_importances(SPACE, configs[:20] + configs[20:27], scores[:20] + scores[20:27], seed=0)
    assert result.n_trials == 27
    pd.testing.assert_frame_equal(result.individual, clean.individual, check_exact=True)


def test_values_read_back_as_text_are_understood():
    configs, scores = trials(additive, 30, seed=4)
    as_text = [{k: str(v) for k, v in c.items()} for c in configs]
    native = fanova_importances(SPACE, configs, scores, seed=0)
    text = fanova_importances(SPACE, as_text, scores, seed=0)
    pd.testing.assert_frame_equal(native.individual, text.individual, check_exact=True)


def test_constants_are_left_out_and_pooled_trials_work():
    space = config_space(SpaceSpec(**{**INITIAL, "input_size": [32], "batch_size": [32]}))  # constants
    configs, scores = trials(additive, 30, seed=5, space=space)
    # pooled across two datasets: the same configurations, scores shifted per dataset
    result = fanova_importances(space, configs + configs, scores + [s + 0.1 for s in scores], seed=0)
    assert set(result.individual.hyperparameter) == {"learning_rate", "dropout", "optimizer",
                                                     "fine_tuned_layers"}
    assert len(result.pairs) == 6 and set(result.marginals) == set(result.individual.hyperparameter)
    assert result.n_trials == 60


@pytest.mark.parametrize("configs, scores, message", [
    ("two", [0.5, 0.6], r"only 2 of 2 trials have a finite score; fANOVA needs at least 3"),
    ("five", [0.5, math.nan, math.nan, 0.6, math.nan], r"only 2 of 5 trials"),
    ("five", [0.7] * 5, r"all 5 scores are equal \(0.7\)"),
    ("same", [0.1, 0.2, 0.3, 0.4, 0.5], r"all 5 trials have the same configuration"),
    ("no dropout", [0.1, 0.2, 0.3, 0.4, 0.5], r"configuration 0 has no value for dropout"),
    ("bad optimizer", [0.1, 0.2, 0.3, 0.4, 0.5], r"optimizer='nadam' is not one of"),
    ("lr too high", [0.1, 0.2, 0.3, 0.4, 0.5], r"learning_rate=0.5 is outside"),
    ("lr not a number", [0.1, 0.2, 0.3, 0.4, 0.5], r"learning_rate='fast' is outside"),
])
def test_degenerate_input_is_a_user_error(configs, scores, message):
    sample = sample_configurations(SPACE, 5, seed=0)
    configs = {
        "two": sample[:2],
        "five": sample,
        "same": [sample[0]] * 5,
        "no dropout": [{k: v for k, v in c.items() if k != "dropout"} for c in sample],
        "bad optimizer": [{**c, "optimizer": "nadam"} for c in sample],
        "lr too high": [{**c, "learning_rate": 0.5} for c in sample],
        "lr not a number": [{**c, "learning_rate": "fast"} for c in sample],
    }[configs]
    with pytest.raises(UserError, match=message):
        fanova_importances(SPACE, configs, scores, seed=0)


def test_a_forest_that_cannot_split_is_a_user_error():
    configs, scores = trials(additive, 4, seed=0)  # leaves of 3 need at least 6 points to split
    with pytest.raises(UserError, match=r"fANOVA's trees found no split in 4 trials"):
        fanova_importances(SPACE, configs, scores, seed=0, min_samples_leaf=3)


def test_marginal_plots_are_written(tmp_path):
    configs, scores = trials(additive, 30, seed=6)
    result = fanova_importances(SPACE, configs, scores, seed=0)
    paths = plot_marginals(result, tmp_path / "fig3", prefix="fashion_")
    assert sorted(p.name for p in paths) == sorted(f"fashion_{name}.png" for name in TRUTH)
    for path in paths:
        assert path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_marginals_read_back_exactly_as_the_stage_logs_them(additive_result):
    result = additive_result
    [(n_trials, curves)] = read_marginals(marginals_json({"digits": result})).values()
    assert n_trials == result.n_trials and [c.name for c in curves] == list(result.marginals)
    for curve in curves:
        expected = result.marginals[curve.name]
        assert (curve.kind, curve.values) == (expected.kind, expected.values)
        assert np.array_equal(curve.mean, expected.mean) and np.array_equal(curve.std, expected.std)
