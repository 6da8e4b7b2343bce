"""Class weights reach the training loss on both training paths and survive a resume (slow: it trains)."""

import math

import numpy as np
import pytest

from hpo.data.base import SplitData
from hpo.data.subsets import WeightedSplitData
from hpo.models.backbones import compact
from hpo.training import TrialConfig, fine_tune
from hpo.training.feature_cache import FeatureCache

pytestmark = pytest.mark.slow

CONFIG = TrialConfig(learning_rate=0.01, dropout=0.2, optimizer="sgd", fine_tuned_layers=9, input_size=32,
                     batch_size=16)


def _data(weights=None) -> SplitData:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (96, 32, 32, 3), dtype=np.uint8)
    y = np.arange(96) % 4
    parts = ("synthetic", x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:], tuple("abcd"))
    return SplitData(*parts) if weights is None else WeightedSplitData(*parts, class_weight=tuple(weights))


@pytest.fixture(scope="module")
def factory():
    backbone = compact()
    initial = backbone.get_weights()

    def make():
        backbone.set_weights(initial)
        return backbone
    return make


@pytest.mark.parametrize("cache", [None, FeatureCache()], ids=["end-to-end", "cached"])
def test_weights_scale_the_training_loss_not_the_scores(factory, cache):
    """With a vanishing learning rate the weights stay put, so a uniform class weight of 3 gives
    three times the loss, and the same accuracies and validation loss."""
    tiny = TrialConfig(**{**CONFIG.as_dict(), "learning_rate": 1e-12})
    plain = fine_tune(tiny, _data(), 1, backbone_factory=factory, seed=1, feature_cache=cache)
    weighted = fine_tune(tiny, _data([3.0] * 4), 1, backbone_factory=factory, seed=1, feature_cache=cache)
    a, b = plain.history[0], weighted.history[0]
    assert b.train_loss == pytest.approx(3 * a.train_loss, rel=1e-4)
    assert (b.train_accuracy, b.val_accuracy, weighted.test_accuracy) == (a.train_accuracy, a.val_accuracy,
                                                                          plain.test_accuracy)
    assert b.val_loss == pytest.approx(a.val_loss, rel=1e-5)


def test_weighted_training_agrees_on_both_paths_and_resumes(factory, tmp_path):
    data = _data([1.0, 2.0, 3.0, 4.0])
    finals = []
    for cache in (None, FeatureCache()):
        first = fine_tune(CONFIG, data, 1, backbone_factory=factory, seed=4, feature_cache=cache,
                          checkpoint_to=tmp_path / str(cache), test_above=math.inf)
        resumed = fine_tune(CONFIG, data, 1, resume_from=tmp_path / str(cache), backbone_factory=factory, seed=4,
                            feature_cache=cache)
        assert [m.epoch for m in resumed.history] == [2]
        finals.append((first.history[0].train_loss, resumed.history[0].train_loss))
    assert finals[0] == pytest.approx(finals[1], abs=1e-4)
    unweighted = fine_tune(CONFIG, _data(), 1, backbone_factory=factory, seed=4, test_above=math.inf)
    assert unweighted.history[0].train_loss != pytest.approx(finals[0][0], rel=1e-3)
