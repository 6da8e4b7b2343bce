"""End-to-end `compare` on the embedded profile: before (every step dispatched alone, no
frozen-feature cache), with grouped steps only, and with both (the default).

A quarter of the real study (100 epochs per method instead of 400: four 25-epoch configurations
for grid, random and TPE, one per fine-tuned depth for the grid) on one dataset, all runs in one
session so their ratios are fair. Needs `hpo prepare --profile embedded` first.
"""

import pytest

from hpo.data.prepared import prepared_dir
from hpo.profiles import load_profile
from hpo.studies.compare import run_compare
from hpo.training import trainer

PROFILE = load_profile("embedded")
SETTINGS = {  # name: (frozen-feature cache, steps per execution)
    "before": (False, 1),
    "grouped steps": (False, trainer.STEPS_PER_EXECUTION),
    "grouped steps + cache": (True, trainer.STEPS_PER_EXECUTION),
}
WALL: dict[str, float] = {}


@pytest.mark.skipif(not (prepared_dir("embedded", 0) / "manifest.json").is_file(),
                    reason="run `hpo prepare --profile embedded` first")
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_compare_quarter_budget(benchmark, tmp_path, monkeypatch, setting):
    cached, steps = SETTINGS[setting]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(trainer, "STEPS_PER_EXECUTION", steps)
    profile = PROFILE.model_copy(update={"cache": PROFILE.cache.model_copy(update={"enabled": cached})})
    results = benchmark.pedantic(lambda: run_compare(profile, 0, ["fashion"], None, budget=100), rounds=1,
                                 iterations=1)
    wall = sum(r.wall_seconds for r in results)
    train = sum(r.train_seconds for r in results)
    WALL[setting] = wall
    benchmark.extra_info.update(wall_seconds=wall, train_seconds=train, overhead_fraction=1 - train / wall)
    print(f"\ncompare (fashion, 4 methods x 100 epochs, {setting}): {wall:.0f} s, "
          f"{1 - train / wall:.0%} outside Keras' epochs")
    if len(WALL) == len(SETTINGS):
        for name in list(SETTINGS)[1:]:
            print(f"speed-up end to end, {name} vs before: {WALL['before'] / WALL[name]:.2f}x")
