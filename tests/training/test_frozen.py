"""The frozen-feature cache trains the same model as end-to-end training (slow: it trains).

Tolerance: after one epoch of plain SGD, a weight differs by the learning rate times the summed
difference of its gradients. The cached and end-to-end paths compute the frozen prefix in
different batch sizes, so float32 rounding differs (relative ~1e-7 per value, more through deep
sums); 1e-4 absolute on weights of order 0.1 leaves three orders of magnitude for that and still
catches any real difference (a wrong layer, a batch norm in training mode, another data order).
Adam is not used here: it divides by sqrt(v), which magnifies rounding noise on near-zero gradients.
"""

import numpy as np
import pytest

from hpo.data.base import SplitData
from hpo.models.backbones import application, compact, input_scaling, xception
from hpo.training import TrialConfig, fine_tune
from hpo.training.feature_cache import FeatureCache
from hpo.training.frozen import boundary, split

pytestmark = pytest.mark.slow
TOLERANCE = 1e-4


def _data(size: int, n=96, classes=4, seed=0) -> SplitData:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    y = np.arange(n) % classes
    return SplitData("synthetic", x[:64], y[:64], x[64:80], y[64:80], x[80:], y[80:], tuple("abcd"))


def _train(make_backbone, k: int, size: int, cache, scaling="xception"):
    holder = []

    def factory():
        holder.append(make_backbone())
        return holder[-1]

    config = TrialConfig(learning_rate=0.01, dropout=0.2, optimizer="sgd", fine_tuned_layers=k, input_size=size,
                         batch_size=16)
    result = fine_tune(config, _data(size), 1, backbone_factory=factory, seed=3, feature_cache=cache,
                       scaling=scaling)
    return holder[0], result


BACKBONES = {"compact": (lambda: compact(), 32), "xception": (lambda: xception("none"), 71),
             # keras.applications CNNs: inverted residuals and Caffe-style input scaling
             "MobileNetV2": (lambda: application("MobileNetV2", None), 32),
             "ResNet50": (lambda: application("ResNet50", None), 32)}


@pytest.mark.parametrize("name", list(BACKBONES))
@pytest.mark.parametrize("k", [0, 9, 18])
def test_cached_and_end_to_end_training_agree(name, k):
    make, size = BACKBONES[name]
    cache = FeatureCache()
    plain_backbone, plain = _train(make, k, size, None, input_scaling(name))
    cached_backbone, cached = _train(make, k, size, cache, input_scaling(name))
    assert cache.misses == 3  # train, val and test features were computed, so the cache was used
    n = len(plain_backbone.layers)
    for a, b in zip(plain_backbone.layers[n - k:], cached_backbone.layers[n - k:], strict=True):
        for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
            assert np.abs(wa - wb).max() < TOLERANCE, a.name
    assert abs(plain.history[0].train_loss - cached.history[0].train_loss) < TOLERANCE
    assert abs(plain.val_accuracy - cached.val_accuracy) < TOLERANCE
    assert abs(plain.test_accuracy - cached.test_accuracy) < TOLERANCE


def test_training_everything_never_uses_the_cache():
    cache = FeatureCache()
    backbone, _ = _train(compact, 42, 32, cache)
    assert len(backbone.layers) == 42 and cache.misses == cache.hits == 0


def test_cache_is_reused_across_trials_and_bounded():
    cache = FeatureCache()
    _train(compact, 9, 32, cache)
    _train(compact, 9, 32, cache)  # same images, size, cut and weights: no recomputation
    assert (cache.misses, cache.hits) == (3, 3)
    tiny = FeatureCache(memory_bytes=1000)  # too small for anything, and no disk: train end to end
    _, result = _train(compact, 9, 32, tiny)
    assert tiny.skips == 3 and tiny.misses == 0 and result.epochs_done == 1


def test_cache_spills_to_disk(tmp_path):
    cache = FeatureCache(memory_bytes=1000, disk_dir=tmp_path, disk_bytes=1 << 30)
    _train(compact, 18, 32, cache)
    assert cache.misses == 3 and len(list(tmp_path.glob("*.npy"))) == 3 * 2  # two boundary tensors each
    again = FeatureCache(memory_bytes=1000, disk_dir=tmp_path, disk_bytes=1 << 30)  # a later stage
    _train(compact, 18, 32, again)
    assert (again.hits, again.misses) == (3, 0)


def test_a_residual_cut_crosses_two_tensors():
    backbone = compact()
    assert len(boundary(backbone, 9)) == 2 and len(boundary(backbone, 0)) == 1
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    cut = split(backbone, 9)
    assert np.allclose(cut.tail(cut.prefix(x)), backbone(x), atol=1e-5)
