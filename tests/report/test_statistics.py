"""The statistics on synthetic scores whose answer is known."""

import math

import numpy as np
import pandas as pd
import pytest

from hpo.report.statistics import (
    ALPHA,
    PAPER_CLAIMS,
    beats,
    bootstrap_interval,
    holm,
    mean_ranks,
    paired_tests,
    verdict,
)

EXPERIMENTS = 1000  # simulated studies per check
BLOCKS = 12  # seeds x datasets in one simulated study


def _study(rng, shift: float, noise: float = 0.01) -> pd.DataFrame:
    """Two methods on BLOCKS blocks: a block effect shared by both, noise of their own; `b`
    scores `shift` above `a` on average."""
    block = rng.uniform(0.7, 0.95, BLOCKS)
    return pd.DataFrame({"a": block + rng.normal(0, noise, BLOCKS),
                         "b": block + shift + rng.normal(0, noise, BLOCKS)})


def test_identical_methods_are_called_different_in_about_five_percent_of_studies():
    rng = np.random.default_rng(0)
    rate = np.mean([paired_tests(_study(rng, 0.0))[0].different for _ in range(EXPERIMENTS)])
    assert 0.025 <= rate <= 0.075, rate  # the test's level; its exact distribution is discrete


def test_a_clearly_better_method_is_almost_always_called_better():
    rng = np.random.default_rng(1)
    tests = [paired_tests(_study(rng, 0.02))[0] for _ in range(EXPERIMENTS)]
    assert np.mean([t.different for t in tests]) >= 0.99
    assert np.mean([t.p_first_better for t in tests]) < 0.1  # b, the second, wins nearly every block


def test_the_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    covered = []
    for i in range(400):
        interval = bootstrap_interval(rng.normal(0.8, 0.02, 20), resamples=2000, seed=i)
        covered.append(interval.low <= 0.8 <= interval.high)
    assert 0.88 <= np.mean(covered) <= 0.98  # the percentile bootstrap runs a little narrow at n = 20


def test_intervals_are_reproducible_and_degenerate_cases_say_so():
    values = [0.81, 0.85, 0.79, 0.9, np.nan]
    assert bootstrap_interval(values) == bootstrap_interval(values)
    interval = bootstrap_interval(values)
    assert interval.n == 4 and interval.low < interval.mean < interval.high and interval.mean == pytest.approx(0.8375)
    one = bootstrap_interval([0.5])
    assert one.mean == 0.5 and math.isnan(one.low) and bootstrap_interval([]).n == 0


def test_mean_ranks_share_ties_and_skip_incomplete_blocks():
    scores = pd.DataFrame({"grid": [0.8, 0.7, 0.9, 0.5], "asha": [0.9, 0.7, 0.8, np.nan], "tpe": [0.7, 0.6, 0.7, 0.9]})
    assert mean_ranks(scores).to_dict() == {"grid": pytest.approx((2 + 1.5 + 1) / 3),
                                            "asha": pytest.approx((1 + 1.5 + 2) / 3), "tpe": 3.0}


def test_holm_adjusts_in_order_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.9, 0.8]) == [1.0, 1.0] and holm([0.2, 0.01]) == pytest.approx([0.2, 0.02])


def test_pairs_in_column_order_with_the_probability_of_winning():
    scores = pd.DataFrame({"grid": [0.5, 0.6, 0.7], "random": [0.6, 0.6, 0.8], "asha": [0.4, 0.5, 0.6]})
    pairs = paired_tests(scores)
    assert [(p.first, p.second) for p in pairs] == [("grid", "random"), ("grid", "asha"), ("random", "asha")]
    assert pairs[0].p_first_better == pytest.approx(0.5 / 3) and pairs[1].p_first_better == 1.0
    assert beats([1, 2], [1, 1]) == 0.75 and all(p.n == 3 for p in pairs)


def test_the_papers_claims_are_one_sided_tests():
    rng = np.random.default_rng(3)
    block = rng.uniform(0.7, 0.9, BLOCKS)
    scores = pd.DataFrame({"grid": block, "asha": block + 0.02 + rng.normal(0, 0.005, BLOCKS),
                           "random": block, "tpe": block - 0.02})
    asha, tpe, weights = (verdict(claim, scores) for claim in PAPER_CLAIMS)
    assert asha.supported and asha.n == BLOCKS and asha.p_value < ALPHA
    assert not tpe.supported and tpe.p_value > 0.5
    assert weights is None  # no subset variants in these scores
    variants = pd.DataFrame({"balanced": block, "imbalanced_weighted": block - 0.002})
    recovered = verdict(PAPER_CLAIMS[2], variants)
    assert recovered.supported  # 0.2 points below: within the claim's 1 point


def test_the_leaderboard_ranks_every_method_with_an_interval_best_first():
    import pandas as pd

    from hpo.report.repetitions import leaderboard_table
    rows = []
    for seed in range(8):
        for dataset in ("a", "b"):
            for method, test in (("grid", 0.80), ("asha", 0.90), ("local_search", 0.85 + 0.01 * (seed % 2))):
                rows.append({"search seed": seed, "dataset": dataset, "method": method, "share": 1.0,
                             "val": test, "test": test})
    board = leaderboard_table(pd.DataFrame(rows))
    assert list(board["method"]) == ["asha", "local_search", "grid"]
    assert list(board["mean rank"]) == [1.0, 2.0, 3.0] and list(board["blocks"]) == [16] * 3
    assert (board["rank low"] <= board["mean rank"]).all() and (board["mean rank"] <= board["rank high"]).all()
    assert board["label"].tolist()[0] == "ASHA" and board["label"].tolist()[1] == "local_search"  # not registered
