"""Where ASHA's time goes: the embedded compare of ASHA alone on one dataset at a quarter of the
budget (100 epochs), cold as a new stage process starts, with every phase of every job timed
(hpo.timing). Prints the seconds per job of each phase, the time Python's garbage collection
took within them, and the stage's own "outside Keras' training epochs" share. Needs
`hpo prepare --profile embedded` first.
"""

import gc
import time

import pytest

from hpo import timing
from hpo.data.prepared import prepared_dir
from hpo.executor import worker
from hpo.profiles import load_profile
from hpo.studies.compare import run_compare

PROFILE = load_profile("embedded")
# Inside Keras' epochs (what the stage counts as training) and the rest, in the order printed
EPOCH_PHASES = ("train epochs", "first epoch of a new model", "validation")


@pytest.mark.skipif(not (prepared_dir("embedded", 0) / "manifest.json").is_file(),
                    reason="run `hpo prepare --profile embedded` first")
def test_asha_time_per_job(benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("HPO_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    worker.forget()

    collections, under_way = [], []  # seconds of each of Python's cycle collections; when the current one began

    def collected(stage, info):
        if stage == "start":
            under_way.append(time.perf_counter())
        elif under_way:
            collections.append(time.perf_counter() - under_way.pop())

    def compare():
        with timing.recording() as record:
            started = time.perf_counter()
            gc.callbacks.append(collected)
            try:
                [result] = run_compare(PROFILE, 0, ["fashion"], ["asha"], budget=100)
            finally:
                gc.callbacks.remove(collected)
            return record, result, time.perf_counter() - started

    record, result, wall = benchmark.pedantic(compare, rounds=1, iterations=1)
    jobs = record.calls["data"]  # entered once by every trained job
    assert jobs > 0
    rows = sorted(record.seconds.items(), key=lambda item: (item[0] not in EPOCH_PHASES, -item[1]))
    rows.append(("the rest (study runs, tables, progress lines, ...)", wall - sum(record.seconds.values())))
    print(f"\nASHA, embedded fashion, budget 100: {jobs} jobs in {wall:.1f} s "
          f"(search loop {result.wall_seconds:.1f} s)")
    print(f"{'phase':<52}{'s per job':>10}{'share':>8}{'calls':>7}")
    for name, seconds in rows:
        print(f"{name:<52}{seconds / jobs:>10.3f}{seconds / wall:>8.1%}{record.calls.get(name, 0):>7}")
    print(f"spread over these phases, Python's garbage collection: {sum(collections) / jobs:.3f} s per job "
          f"({sum(collections) / wall:.1%}, {len(collections)} collections)")
    outside = 1 - result.train_seconds / result.wall_seconds
    print(f"the stage's line: {outside:.1%} of ASHA's search outside Keras' training epochs")
    benchmark.extra_info.update(jobs=jobs, wall_seconds=wall, outside_epochs=outside, gc_seconds=sum(collections),
                                seconds_per_job={name: seconds / jobs for name, seconds in rows})
