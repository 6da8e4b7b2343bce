"""The searcher of BOHB and ASHA + TPE: random until a rung has d + 1 results, then a TPE model of
the largest such rung for two thirds of the proposals; the same seed and results, the same
proposals. No Keras."""

import math

from hpo.profiles import load_profile
from hpo.search.rung_model import RungModelSearcher

PROFILE = load_profile("embedded")


def quality(config: dict) -> float:
    """Best at learning rate 0.01 with adam: what a model should find."""
    return 0.9 - abs(math.log10(config["learning_rate"]) + 2) / 3 - 0.2 * (config["optimizer"] != "adam")


def feed(searcher: RungModelSearcher, trials: range, epochs: int) -> list[dict]:
    configs = []
    for trial in trials:
        configs.append(searcher.suggest(trial))
        searcher.observe(trial, quality(configs[-1]), epochs)
    return configs


def test_the_same_seed_and_results_give_the_same_proposals():
    a, b = RungModelSearcher(PROFILE.space.applied, 5), RungModelSearcher(PROFILE.space.applied, 5)
    assert feed(a, range(30), 4) == feed(b, range(30), 4)
    assert feed(RungModelSearcher(PROFILE.space.applied, 6), range(30), 4) != feed(a, range(30, 60), 4)


def test_random_until_a_rung_has_enough_results_then_the_model_finds_the_good_region():
    searcher = RungModelSearcher(PROFILE.space.applied, 0)
    assert searcher.min_points == 5  # learning rate, dropout, optimizer, fine-tuned layers: d = 4
    feed(searcher, range(4), 1)
    assert searcher._rung() is None  # 4 results: not enough
    random_part = feed(searcher, range(4, 40), 1)
    modelled = feed(searcher, range(40, 100), 1)
    assert searcher._rung() is searcher.results[1]
    mean = sum(map(quality, modelled)) / len(modelled)
    assert mean > sum(map(quality, random_part[:10])) / 10 + 0.05  # better than the random draws


def test_the_largest_rung_with_enough_results_is_the_model_and_failures_are_left_out():
    searcher = RungModelSearcher(PROFILE.space.applied, 1)
    feed(searcher, range(10), 1)
    feed(searcher, range(10, 14), 4)
    assert searcher._rung() is searcher.results[1]  # rung 4 has 4 results
    searcher.suggest(14)
    searcher.observe(14, math.nan, 4)
    assert 14 not in searcher.results[4] and searcher._rung() is searcher.results[1]
    feed(searcher, range(15, 16), 4)
    assert searcher._rung() is searcher.results[4]
