"""Replay speed (search seeds per second) and the recording time per epoch.

Replay: the four methods on the embedded profile's table (the one replay reads: recorded here by
`hpo record --profile embedded`, else the one the suite ships; where neither exists, the same
design with synthetic curves: the speed does not depend on the values), 100 search seeds each,
one simulated worker and eight; then a whole `hpo replay` study of 100 seeds with its MLflow runs
and artifacts.
Recording: `hpo record` of the smoke profile's digits design (8 points x 4 epochs, test set
scored every epoch), seconds per epoch against the seconds Keras spent in the epochs.
"""

import os
import time

import pytest

from hpo import recorded
from hpo.profiles import load_profile
from hpo.studies.record import default_table
from hpo.studies.replay import replay_search, run_replay
from tests.executor.test_replay import synthetic_table

EMBEDDED = load_profile("embedded")
SEEDS = 100
TABLE = default_table(EMBEDDED, 0)


def _table() -> tuple[recorded.Table, str]:
    if TABLE.is_file():
        return recorded.load(TABLE), str(TABLE)
    return synthetic_table(EMBEDDED), "synthetic curves on the embedded design"


@pytest.mark.parametrize("workers", [1, 8])
@pytest.mark.parametrize("method", ["grid", "random", "tpe", "asha"])
def test_replay_seeds_per_second(benchmark, method, workers):
    table, source = _table()
    dataset = next(iter(table.datasets))
    nearest = recorded.Nearest(table.points(dataset), table.space)

    def replay_all():
        for seed in range(SEEDS):
            replay_search(EMBEDDED, method, nearest, seed, EMBEDDED.budget.epochs, workers)

    benchmark.pedantic(replay_all, rounds=1, iterations=1)
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update(seeds_per_second=SEEDS / seconds)
    print(f"\nreplay {method}, {workers} simulated worker(s), {dataset} ({source}): {SEEDS} seeds in "
          f"{seconds:.2f} s = {SEEDS / seconds:.0f} seeds/s")


def test_replay_study_of_100_seeds(benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    table, source = _table()
    file = tmp_path / "table.json"
    recorded.save(table, file)
    dataset = next(iter(table.datasets))
    benchmark.pedantic(lambda: run_replay(EMBEDDED, 0, list(range(SEEDS)), file, [dataset]), rounds=1, iterations=1)
    seconds = benchmark.stats.stats.mean
    print(f"\nhpo replay study, 4 methods x {SEEDS} seeds on {dataset} ({source}), with its MLflow runs: "
          f"{seconds:.1f} s")


def test_recording_time_per_epoch(benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("HPO_PREPARED_DIR", str(tmp_path / "prepared"))
    from hpo.executor import worker
    from hpo.studies.prepare import run_prepare
    from hpo.studies.record import run_record

    smoke = load_profile("smoke")
    run_prepare(smoke, 0)
    worker.forget()
    started = time.perf_counter()
    table = benchmark.pedantic(lambda: run_record(smoke, 0, ["digits"], tmp_path / "t.json"), rounds=1, iterations=1)
    wall = time.perf_counter() - started
    points = table.points("digits")
    epochs = sum(p.trained for p in points)
    in_keras = sum(sum(p.curves["epoch_seconds"]) for p in points)
    print(f"\nrecord smoke digits: {len(points)} points, {epochs} epochs in {wall:.1f} s = {wall / epochs:.2f} s per "
          f"epoch; Keras' epochs (training and validation) {in_keras / epochs:.2f} s per epoch; the rest (test set "
          f"every epoch, tracking, model building) {1 - in_keras / wall:.0%} ({os.cpu_count()} CPUs)")
