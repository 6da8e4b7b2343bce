"""End-to-end `compare` on the embedded profile with the frozen-feature cache off and on.

A quarter of the real study (100 epochs per method instead of 400: four 25-epoch configurations
for grid, random and TPE, one per fine-tuned depth for the grid) on one dataset, both runs in
one session so their ratio is fair. Needs `hpo prepare --profile embedded` first.
"""


import pytest

from hpo.data.prepared import prepared_dir
from hpo.executor import worker
from hpo.profiles import load_profile
from hpo.studies.compare import run_compare

PROFILE = load_profile("embedded")
WALL: dict[bool, float] = {}


@pytest.mark.skipif(not (prepared_dir("embedded", 0) / "manifest.json").is_file(),
                    reason="run `hpo prepare --profile embedded` first")
@pytest.mark.parametrize("cached", [False, True], ids=["uncached", "cached"])
def test_compare_quarter_budget(benchmark, tmp_path, monkeypatch, cached):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    profile = PROFILE.model_copy(update={"cache": PROFILE.cache.model_copy(update={"enabled": cached})})
    worker.forget()  # each setting starts cold, as its own process would
    results = benchmark.pedantic(lambda: run_compare(profile, 0, ["fashion"], None, budget=100), rounds=1,
                                 iterations=1)
    wall = sum(r.wall_seconds for r in results)
    train = sum(r.train_seconds for r in results)
    WALL[cached] = wall
    benchmark.extra_info.update(wall_seconds=wall, train_seconds=train, overhead_fraction=1 - train / wall)
    print(f"\ncompare (fashion, 4 methods x 100 epochs, cache {'on' if cached else 'off'}): {wall:.0f} s, "
          f"{1 - train / wall:.0%} outside Keras' epochs")
    if len(WALL) == 2:
        print(f"speed-up from the cache, end to end: {WALL[False] / WALL[True]:.2f}x")
