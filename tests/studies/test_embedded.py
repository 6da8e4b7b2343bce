"""The embedded default, at its real size: prepare it and fine-tune briefly (slow: ~1.5 min)."""

import pytest

from hpo.profiles import load_profile
from hpo.studies.prepare import run_prepare
from hpo.studies.train import default_config, run_train

pytestmark = pytest.mark.slow


def test_short_embedded_trial_clearly_beats_chance():
    profile = load_profile("embedded")
    manifest = run_prepare(profile, seed=0)
    assert manifest["datasets"]["fashion"]["test"] >= 1000 and manifest["datasets"]["fashion"]["train"] >= 1000
    assert manifest["backbone"]["source_test_accuracy"] > 0.8  # five source classes: chance is 0.2
    result = run_train(profile, 0, "fashion", default_config(profile, fine_tuned_layers=9), epochs=2)
    assert result.val_accuracy > 0.6  # five target classes: chance is 0.2
