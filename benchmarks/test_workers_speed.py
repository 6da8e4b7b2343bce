"""The embedded compare of one dataset, back to back: in the stage's process, then on a local Dask
cluster of 1 and of 2 worker processes (one thread each). Prints each wall time, the ratios to
the in-process run, and the share of the workers' time they sat idle (no task running, from
Dask's task stream). Needs `hpo prepare --profile embedded` first. HPO_BENCH_BUDGET sets the
epochs per method (default: the profile's 400; 100 takes about a quarter of the time).
"""

import os
import time

import pytest

from hpo.data.prepared import prepared_dir
from hpo.executor import cluster, worker
from hpo.profiles import load_profile
from hpo.studies.compare import run_compare

PROFILE = load_profile("embedded")
BUDGET = int(os.environ.get("HPO_BENCH_BUDGET", PROFILE.budget.epochs))


def _compare(workers: int | None):
    """(wall seconds, seconds tasks ran on workers or None in process, results)."""
    worker.forget()  # every variant starts cold, as a new stage process does
    if workers is None:
        started = time.perf_counter()
        results = run_compare(PROFILE, 0, ["fashion"], None, budget=BUDGET, restart=True)
        return time.perf_counter() - started, None, results
    from distributed import LocalCluster, get_task_stream

    # The cluster `--workers N` starts, started here so that one worker runs on Dask too
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as local, \
            cluster.workers(scheduler=local.scheduler_address) as engine:
        with get_task_stream(engine.client) as stream:
            started = time.perf_counter()
            results = run_compare(PROFILE, 0, ["fashion"], None, budget=BUDGET, restart=True, engine=engine)
            wall = time.perf_counter() - started
        busy = sum(s["stop"] - s["start"] for task in stream.data for s in task["startstops"]
                   if s["action"] == "compute")
    return wall, busy, results


@pytest.mark.skipif(not (prepared_dir("embedded", 0) / "manifest.json").is_file(),
                    reason="run `hpo prepare --profile embedded` first")
def test_one_and_two_workers(benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("HPO_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))

    def variants():
        return {name: _compare(workers) for name, workers in
                (("in process", None), ("1 Dask worker", 1), ("2 Dask workers", 2))}

    measured = benchmark.pedantic(variants, rounds=1, iterations=1)
    base = measured["in process"][0]
    print(f"\nembedded compare, fashion, budget {BUDGET} per method")
    print(f"{'driver':<16}{'wall s':>9}{'ratio':>8}{'idle':>8}   best val per method")
    for name, (wall, busy, results) in measured.items():
        slots = 1 if busy is None else int(name[0])
        idle = "-" if busy is None else f"{1 - busy / (wall * slots):.0%}"
        best = ", ".join(f"{r.method} {r.best_val:.3f}" for r in results)
        print(f"{name:<16}{wall:>9.1f}{wall / base:>8.2f}{idle:>8}   {best}")
        benchmark.extra_info[name] = {"wall_seconds": wall, "ratio": wall / base, "busy_seconds": busy}
