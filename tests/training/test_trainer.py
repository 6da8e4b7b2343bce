"""Real fine-tuning on the smoke profile's prepared data (marked slow: it trains)."""

import math

import numpy as np
import pytest

from hpo.data.prepared import BACKBONE_FILE, load_prepared, prepared_dir
from hpo.errors import TrainingDiverged, UserError
from hpo.models import load_backbone
from hpo.training import TrialConfig, fine_tune

pytestmark = pytest.mark.slow

CONFIG = TrialConfig(learning_rate=0.002, dropout=0.2, optimizer="adam", fine_tuned_layers=9, input_size=32,
                     batch_size=32)


@pytest.fixture(scope="module")
def setup(smoke_prepared):
    profile, _ = smoke_prepared
    data, _ = load_prepared(profile, 0, "fashion")
    path = prepared_dir(profile.name, 0) / BACKBONE_FILE
    return data, (lambda: load_backbone(path))


def test_reports_every_epoch_and_scores_the_test_set(setup):
    data, factory = setup
    seen = []
    result = fine_tune(CONFIG, data, 2, backbone_factory=factory, on_epoch=seen.append)
    assert [m.epoch for m in seen] == [1, 2] == [m.epoch for m in result.history]
    assert result.epochs_done == 2 and 0 <= result.test_accuracy <= 1
    assert all(np.isfinite(m.train_loss) and 0 <= m.val_accuracy <= 1 for m in seen)


def test_same_seed_same_curve(setup):
    data, factory = setup
    a = fine_tune(CONFIG, data, 1, backbone_factory=factory, seed=5, test_above=math.inf)
    b = fine_tune(CONFIG, data, 1, backbone_factory=factory, seed=5, test_above=math.inf)
    assert a.history[0].train_loss == pytest.approx(b.history[0].train_loss, rel=1e-5)
    assert a.history[0].val_accuracy == b.history[0].val_accuracy


def test_checkpoint_and_resume_continue_the_count(setup, tmp_path):
    data, factory = setup
    first = fine_tune(CONFIG, data, 1, backbone_factory=factory, checkpoint_to=tmp_path / "ckpt",
                      test_above=math.inf)
    assert first.epochs_done == 1 and (tmp_path / "ckpt" / "model.npz").is_file()
    resumed = fine_tune(CONFIG, data, 2, resume_from=tmp_path / "ckpt", backbone_factory=factory,
                        checkpoint_to=tmp_path / "ckpt")
    assert [m.epoch for m in resumed.history] == [2, 3] and resumed.epochs_done == 3
    # resuming continued from the trained weights, not from the pretrained backbone
    assert resumed.history[0].train_loss < first.history[0].train_loss
    other = TrialConfig(**{**CONFIG.as_dict(), "learning_rate": 0.1})
    with pytest.raises(UserError, match="belongs to another configuration"):
        fine_tune(other, data, 1, resume_from=tmp_path / "ckpt", backbone_factory=factory)


def test_diverging_loss_stops_the_trial(setup):
    data, factory = setup
    exploding = TrialConfig(learning_rate=1e12, dropout=0.0, optimizer="sgd", fine_tuned_layers=42, input_size=32,
                            batch_size=32)
    with pytest.raises(TrainingDiverged, match="loss became"):
        fine_tune(exploding, data, 3, backbone_factory=factory, test_above=math.inf)


def test_input_below_the_backbone_minimum(setup):
    data, factory = setup
    small = TrialConfig(**{**CONFIG.as_dict(), "input_size": 16})
    with pytest.raises(UserError, match="input_size=16 is below this backbone's minimum of 32"):
        fine_tune(small, data, 1, backbone_factory=factory, min_input_size=32)


def test_resume_is_exact_with_and_without_the_feature_cache(setup, tmp_path):
    """1 epoch, a checkpoint, 2 more epochs: the cached and the end-to-end path reach the same loss
    (up to float rounding), so weights and optimizer state survive the checkpoint in both."""
    from hpo.training.feature_cache import FeatureCache

    data, factory = setup
    config = TrialConfig(**{**CONFIG.as_dict(), "optimizer": "rmsprop"})
    finals = []
    for cache in (None, FeatureCache()):
        fine_tune(config, data, 1, backbone_factory=factory, checkpoint_to=tmp_path / str(cache), seed=4,
                  feature_cache=cache, test_above=math.inf)
        resumed = fine_tune(config, data, 2, resume_from=tmp_path / str(cache), backbone_factory=factory, seed=4,
                            feature_cache=cache)
        finals.append(resumed.history[-1].train_loss)
    assert finals[0] == pytest.approx(finals[1], rel=1e-3)


def test_a_reused_compiled_model_trains_like_a_new_one(setup):
    """Trials of the same depth, optimizer and input size reuse one compiled model (no rebuild, no
    retrace); reset to the initial weights, it gives the curve a newly built model gives."""
    from hpo.training import trainer

    data, factory = setup
    other = TrialConfig(**{**CONFIG.as_dict(), "dropout": 0.05, "learning_rate": 0.01})
    shared = lambda: factory()  # noqa: E731  (one factory: its trials share the pool)
    fine_tune(CONFIG, data, 1, backbone_factory=shared, seed=2, test_above=math.inf)
    reused = fine_tune(other, data, 2, backbone_factory=shared, seed=9)
    assert len(trainer._POOL[shared]) == 1  # the second trial found the first one's model
    fresh = fine_tune(other, data, 2, backbone_factory=lambda: factory(), seed=9)
    assert [m.train_loss for m in reused.history] == pytest.approx([m.train_loss for m in fresh.history], rel=1e-5)
    assert reused.test_accuracy == pytest.approx(fresh.test_accuracy, abs=1e-6)


def test_a_model_for_another_optimizer_shares_the_layers_and_trains_like_a_new_one(setup):
    from hpo.training import trainer

    data, factory = setup
    rmsprop = TrialConfig(**{**CONFIG.as_dict(), "optimizer": "rmsprop", "learning_rate": 0.001})
    shared = lambda: factory()  # noqa: E731
    first = fine_tune(CONFIG, data, 1, backbone_factory=shared, seed=2, test_above=math.inf)
    assert first.test_accuracy is None  # below the bar: the test set was not scored
    sibling = fine_tune(rmsprop, data, 2, backbone_factory=shared, seed=9, test_above=0.0)
    adam, other = trainer._POOL[shared].values()
    assert trainer._backbone_of(adam.model) is trainer._backbone_of(other.model) and adam.model is not other.model
    fresh = fine_tune(rmsprop, data, 2, backbone_factory=lambda: factory(), seed=9)
    assert [m.train_loss for m in sibling.history] == pytest.approx([m.train_loss for m in fresh.history], rel=1e-5)
    assert sibling.test_accuracy == pytest.approx(fresh.test_accuracy, abs=1e-6)


def test_the_kept_training_pipeline_trains_as_keras_own_does(setup, monkeypatch):
    """The same curve whether fit draws from the kept pipeline or builds Keras' own (batches.py)."""
    from hpo.training import batches

    data, factory = setup
    kept = fine_tune(CONFIG, data, 2, backbone_factory=factory, seed=3)
    assert batches._draws_like_keras is True
    monkeypatch.setattr(batches, "_draws_like_keras", False)
    keras_own = fine_tune(CONFIG, data, 2, backbone_factory=factory, seed=3)
    assert [m.train_loss for m in kept.history] == pytest.approx([m.train_loss for m in keras_own.history], rel=1e-6)
    assert [m.val_accuracy for m in kept.history] == [m.val_accuracy for m in keras_own.history]
    assert kept.test_accuracy == keras_own.test_accuracy


def test_a_pooled_model_that_loaded_a_checkpoint_is_reset_whole_for_the_next_trial(setup, tmp_path):
    """A reset restores only the layers that fine-tune, unless a checkpoint was loaded since: it
    writes every layer. A checkpoint whose frozen weights differ (as one from another backbone
    file would) must not leak into the next trial's model or its cached features."""
    from hpo.training.feature_cache import FeatureCache

    data, factory = setup
    shared, cache = (lambda: factory()), FeatureCache()
    fine_tune(CONFIG, data, 1, backbone_factory=shared, checkpoint_to=tmp_path / "ckpt", feature_cache=cache,
              test_above=math.inf)
    with np.load(tmp_path / "ckpt" / "model.npz") as f:
        weights = [f[name] for name in f.files]
    weights[0] = weights[0] + 1.0  # the first convolution: frozen at k = 9
    np.savez(tmp_path / "ckpt" / "model.npz", *weights)
    fine_tune(CONFIG, data, 1, resume_from=tmp_path / "ckpt", backbone_factory=shared, feature_cache=cache,
              test_above=math.inf)
    after = fine_tune(CONFIG, data, 2, backbone_factory=shared, seed=9, feature_cache=cache)
    fresh = fine_tune(CONFIG, data, 2, backbone_factory=lambda: factory(), seed=9)
    assert [m.train_loss for m in after.history] == pytest.approx([m.train_loss for m in fresh.history], rel=1e-5)
    assert after.test_accuracy == pytest.approx(fresh.test_accuracy, abs=1e-6)


def test_the_model_pool_is_bounded_by_memory_and_keeps_the_newest(setup, monkeypatch):
    from hpo.training import trainer

    data, factory = setup
    shared = lambda: factory()  # noqa: E731
    fine_tune(CONFIG, data, 0, backbone_factory=shared, test_above=math.inf)
    one_model = next(iter(trainer._POOL[shared].values())).nbytes
    monkeypatch.setattr(trainer, "POOL_BYTES", int(1.5 * one_model))
    sgd = TrialConfig(**{**CONFIG.as_dict(), "optimizer": "sgd"})
    fine_tune(sgd, data, 0, backbone_factory=shared, test_above=math.inf)
    assert list(trainer._POOL[shared]) == [(9, "sgd", 32, data.n_classes)]  # the adam model made room
    monkeypatch.setattr(trainer, "POOL_BYTES", 0)
    fine_tune(CONFIG, data, 0, backbone_factory=shared, test_above=math.inf)
    assert len(trainer._POOL[shared]) == 1  # however small the budget, the trial's own model stays
