import numpy as np
import pytest

from hpo.errors import UserError
from hpo.models import build_classifier, set_fine_tuned_layers
from hpo.models.backbones import XCEPTION_NOTOP_FILE, compact, resolve_xception_weights, xception


@pytest.fixture(scope="module")
def xception_random():
    return xception("none")


def _trainable_names(backbone):
    return [layer.name for layer in backbone.layers if layer.trainable]


def test_xception_without_top_has_132_layers(xception_random):
    assert len(xception_random.layers) == 132


@pytest.mark.parametrize("k", [0, 9, 14, 18, 132])
def test_exactly_the_last_k_xception_layers_train(xception_random, k):
    set_fine_tuned_layers(xception_random, k)
    flags = [layer.trainable for layer in xception_random.layers]
    assert flags == [False] * (132 - k) + [True] * k
    # the optimiser sees exactly the weights of those k layers
    expected = sum(len(layer.trainable_weights) for layer in xception_random.layers[132 - k:])
    assert len(xception_random.trainable_weights) == expected


def test_k_9_is_block_14_and_the_exit_pooling(xception_random):
    set_fine_tuned_layers(xception_random, 9)
    assert _trainable_names(xception_random)[0] == "block13_pool"


def test_compact_mirrors_the_xception_tail(xception_random):
    small = compact()
    assert len(small.layers) == 42
    kinds = lambda model: [type(layer).__name__ for layer in model.layers[-18:]]  # noqa: E731
    assert kinds(small) == kinds(xception_random)
    assert small.count_params() < 200_000


def test_k_larger_than_backbone_is_refused():
    with pytest.raises(UserError, match="fine_tuned_layers=43 is outside 0..42"):
        set_fine_tuned_layers(compact(), 43)


def test_classifier_head_and_frozen_batch_norm_in_inference_mode():
    backbone = compact()
    set_fine_tuned_layers(backbone, 0)
    model = build_classifier(backbone, n_classes=5, dropout=0.3, input_size=32)
    assert [type(layer).__name__ for layer in model.layers[-3:]] == ["GlobalAveragePooling2D", "HeadDropout", "Dense"]
    assert float(model.layers[-2].rate) == pytest.approx(0.3) and model.output_shape == (None, 5)
    dropped = np.asarray(model.layers[-2](np.ones((2000, 10), "float32"), training=True))
    assert abs((dropped == 0).mean() - 0.3) < 0.02 and np.allclose(dropped[dropped > 0], 1 / 0.7)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    # frozen: training=True must not change the backbone's output (BN uses moving statistics)
    assert np.allclose(backbone(x, training=True), backbone(x, training=False), atol=1e-5)


def test_imagenet_weights_missing_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match=f"{XCEPTION_NOTOP_FILE}.*copy it to {tmp_path}"):
        resolve_xception_weights("imagenet")
    with pytest.raises(UserError, match="not found at /no/such/file.h5"):
        resolve_xception_weights("/no/such/file.h5")


def test_xception_weights_from_the_keras_cache(tmp_path, monkeypatch, xception_random):
    """A weights file in the Keras cache is found and loaded. The file is written in the legacy
    HDF5 layout of the published notop file (here with random weights: no download)."""
    import h5py
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / XCEPTION_NOTOP_FILE
    with h5py.File(path, "w") as f:
        save_weights_to_hdf5_group(f, xception_random)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert resolve_xception_weights("imagenet") == str(path)
    loaded = xception("imagenet")
    assert np.allclose(loaded.layers[-3].get_weights()[0], xception_random.layers[-3].get_weights()[0])
