"""Epoch time with and without the frozen-feature cache, and the start-up cost of a trial.

Each case trains one configuration for a few epochs on synthetic images; the first epoch holds
the start-up (tracing the step, first batch; with the cache also the frozen prefix's pass), the
later ones are steady epochs. Ratios are what to compare: the machines are shared and noisy.
"""

import math
import statistics

import numpy as np
import pytest

from benchmarks.conftest import EPOCH_ROWS
from hpo.data.base import SplitData
from hpo.models.backbones import compact, xception
from hpo.training import TrialConfig, fine_tune
from hpo.training.feature_cache import FeatureCache

CASES = {  # backbone: (factory, input size, layers, training images)
    "xception": (lambda: xception("none"), 71, 132, 256),
    "compact": (compact, 32, 42, 1000),
}
EPOCHS = 3


def _data(size: int, n: int) -> SplitData:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n + 256, 28, 28, 3), dtype=np.uint8)
    y = rng.integers(0, 5, n + 256)
    return SplitData("synthetic", x[:n], y[:n], x[n:], y[n:], x[n:n + 8], y[n:n + 8], tuple("abcde"))


@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
@pytest.mark.parametrize("k", [0, 9, 18, "L"])
@pytest.mark.parametrize("backbone", ["xception", "compact"])
def test_epoch_time(benchmark, backbone, k, cached):
    factory, size, layers, n = CASES[backbone]
    k = layers if k == "L" else k
    data = _data(size, n)
    config = TrialConfig(learning_rate=0.001, dropout=0.2, optimizer="adam", fine_tuned_layers=k, input_size=size,
                         batch_size=32)
    cache = FeatureCache() if cached else None
    result = benchmark.pedantic(lambda: fine_tune(config, data, EPOCHS, backbone_factory=factory, feature_cache=cache,
                                                  test_above=math.inf), rounds=1, iterations=1)
    seconds = [m.seconds for m in result.history]
    steady = statistics.median(seconds[1:])
    benchmark.extra_info.update(epoch_seconds=steady, first_epoch_seconds=seconds[0])
    EPOCH_ROWS.append({"backbone": backbone, "k": k, "images": n, "cached": cached, "epoch": steady,
                       "start": seconds[0] - steady})
