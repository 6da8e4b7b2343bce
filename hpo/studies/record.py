"""`record`: train a fixed design per dataset (hpo/recorded.py) and export its learning curves
as a table that `hpo replay` looks up instead of training. One study run -> one child per
dataset (method `design`) -> one trial run per design point; resumable like every study: run it
again and the epochs the store holds are read back, the rest trained."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from hpo import mlflow_ui, recorded, tracking
from hpo.data.prepared import check_prepared, require_prepared
from hpo.executor import worker
from hpo.executor.drivers import IN_PROCESS, Engine
from hpo.report.queries import TrackingReader
from hpo.search.base import Fifo, ListSearcher
from hpo.studies.failures import Failures
from hpo.studies.searching import Repetition, search
from hpo.studies.skeleton import open_study
from hpo.studies.writable import check_file

METHOD = "design"


def default_out(profile, seed: int) -> Path:
    return Path("recorded") / f"{profile.name}-seed{seed}.json"


def default_table(profile, seed: int) -> Path:
    """The table replay and the benchmark read by default: the one recorded here, else the one the
    suite ships for the profile (replay then checks that it matches the profile and its data)."""
    mine = default_out(profile, seed)
    return mine if mine.exists() or not recorded.shipped(profile.name, seed).exists() else \
        recorded.shipped(profile.name, seed)


def _points(reader: TrackingReader, dataset_run_id: str, points: list[tuple[str, dict]]) -> list[recorded.Point]:
    """Every design point's curves, read back from its trial run."""
    trials = {int(t.tags["trial"]): t for t in reader.children(reader.run(dataset_run_id))}
    out = []
    for index, (source, config) in enumerate(points):
        trial = trials[index]
        curves = {key: [p.value for p in sorted(reader.history(trial.run_id, key), key=lambda p: p.step)]
                  for key in recorded.CURVES}
        out.append(recorded.Point(index, source, config, curves, trial.tags.get("error")))
    return out


def run_record(profile, seed: int, datasets: list[str] | None = None, out: str | Path | None = None,
               restart: bool = False, engine: Engine = IN_PROCESS) -> recorded.Table:
    datasets = datasets or [t.name for t in profile.datasets.targets]
    for name in datasets:
        profile.target(name)
    out = Path(out) if out else default_out(profile, seed)
    check_file(out, "the recorded table", "give another --out")
    prepared, manifest = require_prepared(profile, seed)
    check_prepared(profile, seed, datasets)
    worker.backbone(profile, seed)()  # a missing or damaged backbone fails before any run
    points, epochs = recorded.design(profile, seed), recorded.epochs(profile)
    opened = open_study("record", profile, Repetition(seed, seed), manifest["data_checksum"],
                        key={"datasets": datasets}, tags={"datasets": ",".join(datasets),
                                                          "design_points": str(len(points)),
                                                          "epochs_per_point": str(epochs)})
    failures = Failures()
    started = time.perf_counter()
    with opened.run(restart) as study:
        tracking.log_inputs([i for d in datasets for i in mlflow_ui.dataset_inputs(prepared, manifest, d)])
        table = recorded.Table({"profile": profile.name, "profile_checksum": profile.checksum, "seed": seed,
                                "data_checksum": manifest["data_checksum"], "git_commit": opened.tags["git_commit"],
                                "git_dirty": opened.tags["git_dirty"], "study_run_id": study.info.run_id,
                                "random_points": profile.record.random_points, "epochs": epochs,
                                "profile_settings": recorded.profile_settings(profile)},
                               profile.space.applied.model_dump(mode="json"))
        reader = TrackingReader(tracking.tracking_uri())
        for dataset in datasets:
            with tracking.child_run(f"design {dataset}", {"method": METHOD, "dataset": dataset,
                                                          tracking.STUDY_KEY: opened.key}, reopen=True) as run:
                keras.backend.clear_session()
                method = Fifo(METHOD, ListSearcher([config for _, config in points]), len(points), epochs)
                found = search(method, len(points) * epochs, profile, seed, dataset,
                               opened.trial_tags, f"{dataset} record",
                               test_every_epoch=True, engine=engine)
                tracking.log_metrics({"budget_used_epochs": found.budget_used, "n_trials": len(found.trials),
                                      "n_failed": found.n_failed, "train_seconds": found.train_seconds})
                table.datasets[dataset] = _points(reader, run.info.run_id, points)
                failures.add(f"the design on {dataset}", found.jobs)
        recorded.save(table, out)
        tracking.log_artifact(out)
        wall = time.perf_counter() - started
        tracking.log_metrics({"wall_seconds": wall})
        if failures.fatal():  # everything is recorded; the study run ends FAILED
            raise failures.error()
    trained = sum(p.trained for ps in table.datasets.values() for p in ps)
    print(f"\nrecord took {wall:.0f} s for {trained} epochs ({wall / max(trained, 1):.2f} s per epoch); "
          f"table {out} (sha256 {table.checksum[:12]})", flush=True)
    if failures.summary():
        print(failures.summary(), flush=True)
    return table
