"""`compare` (Study II, Table 6): grid, random, TPE and ASHA on each dataset, each under the
same epoch budget, as one study run -> one child per (dataset, method) -> one grandchild per trial."""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import pandas as pd

from hpo import mlflow_ui, tracking
from hpo.data.prepared import check_prepared, require_prepared
from hpo.executor import worker
from hpo.executor.drivers import IN_PROCESS, Engine
from hpo.report import captions, tables
from hpo.search import registry
from hpo.search.loop import SearchResult
from hpo.space import config_space, constants
from hpo.studies.failures import Failures
from hpo.studies.searching import Repetition, check_request, checkpoint_root, remove_checkpoints, search
from hpo.studies.skeleton import open_study
from hpo.studies.writable import check_checkpoints


@dataclass
class MethodResult:
    method: str
    dataset: str
    budget_used: int
    n_trials: int
    n_failed: int
    best_val: float
    best_test: float
    best_config: dict | None
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    best_run_name: str = ""  # the run of the best trial
    workers: int = 1

    @property
    def worker_seconds(self) -> float:
        return self.wall_seconds * self.workers


def method_result(result: SearchResult, dataset: str) -> MethodResult:
    return MethodResult(result.method, dataset, result.budget_used, len(result.trials), result.n_failed,
                        result.best_val, result.best_test, result.best_config, result.wall_seconds,
                        result.train_seconds, mlflow_ui.best_trial_run_name(result), result.slots)


def log_method_metrics(r: MethodResult, recorded: int) -> None:
    tracking.log_metrics({"budget_used_epochs": r.budget_used, "n_trials": r.n_trials, "n_failed": r.n_failed,
                          "best_val_accuracy": r.best_val, "best_test_accuracy": r.best_test,
                          "wall_seconds": r.wall_seconds, "train_seconds": r.train_seconds,
                          "n_recorded_jobs": recorded})
    if r.best_config:
        tracking.log_dict(r.best_config, "best_config.json")


def table(results: list[MethodResult]) -> pd.DataFrame:
    """The Table 6 analogue: best validation accuracy (its test accuracy) per dataset x method."""
    return tables.table6_frame((r.dataset, r.method, r.best_val, r.best_test) for r in results)


def _method_overheads(results: list[MethodResult]) -> str:
    """Each method's share of its workers' time in its searches spent outside Keras' training epochs."""
    shares = []
    for method in dict.fromkeys(r.method for r in results):
        wall = sum(r.worker_seconds for r in results if r.method == method)
        train = sum(r.train_seconds for r in results if r.method == method)
        shares.append(f"{method} {1 - train / wall:.1%}" if wall > 0 else f"{method} -")
    return ", ".join(shares)


def _description(profile, repetition: Repetition, budget: int, datasets: list[str], methods: list[str],
                 markdown: str, results: list[MethodResult], tags: dict[str, str]) -> str:
    seed = repetition.seed
    command = mlflow_ui.reproduce_command("compare", profile, seed, datasets=",".join(datasets),
                                          methods=",".join(methods), budget=budget,
                                          **repetition.command_parameters())
    best = [mlflow_ui.best_trial_line(f"{r.dataset} {r.method}", r.best_run_name, r.best_val, r.best_test)
            for r in results]
    searched = f" (search seed {repetition.search_seed})" if repetition.repeated else ""
    return mlflow_ui.study_description(
        f"Study II (compare): profile {profile.name}, seed {seed}{searched}, {budget} epochs per method", profile,
        [(captions.TABLE6, markdown)], best, command, tags)


def run_compare(profile, seed: int, datasets: list[str] | None = None, methods: list[str] | None = None,
                budget: int | None = None, restart: bool = False, search_seed: int | None = None,
                engine: Engine = IN_PROCESS) -> list[MethodResult]:
    """Study II. Run again with the same arguments, it continues the same study run: jobs the
    store holds are read back, the rest trained (`restart`: a new study run, everything trained).
    `search_seed` (default `seed`): a repetition of the search on the same prepared data."""
    repetition = Repetition(seed, seed if search_seed is None else search_seed)
    datasets = datasets or [t.name for t in profile.datasets.targets]
    methods = registry.resolve(methods, profile)
    budget = budget or profile.budget.epochs
    check_request(profile, datasets, methods, budget)
    if any(registry.entry(m).resumable for m in methods):  # they keep checkpoints
        check_checkpoints()
    prepared, manifest = require_prepared(profile, seed)
    check_prepared(profile, seed, datasets)
    worker.backbone(profile, seed)()  # loaded now: a missing or damaged backbone fails before any run
    opened = open_study("compare", profile, repetition, manifest["data_checksum"],
                        key={"datasets": datasets, "methods": methods, "budget": budget},
                        tags={"datasets": ",".join(datasets), "methods": ",".join(methods),
                              "budget_epochs": str(budget)})
    results, failures = [], Failures()
    started = time.perf_counter()
    with opened.run(restart) as study:
        checkpoints = checkpoint_root(study.info.run_id)
        tracking.log_inputs([i for d in datasets for i in mlflow_ui.dataset_inputs(prepared, manifest, d)])
        for dataset in datasets:
            for method in methods:
                with tracking.child_run(f"{method} {dataset}", {"method": method, "dataset": dataset,
                                                               tracking.STUDY_KEY: opened.key}, reopen=True):
                    keras.backend.clear_session()
                    tracking.log_inputs(mlflow_ui.dataset_inputs(prepared, manifest, dataset))
                    entry = registry.entry(method)
                    if entry.describe:
                        print(entry.describe(profile), flush=True)
                    fixed = constants(config_space(profile.space.applied))
                    policy = entry.build(profile, repetition.search_seed, fixed)
                    found = search(policy, budget, profile, seed, dataset, opened.trial_tags, f"{dataset} {method}",
                                   checkpoints / f"{dataset}-{method}" if entry.resumable else None,
                                   search_seed=repetition.search_seed, engine=engine)
                    r = method_result(found, dataset)
                    failures.add(f"{method} on {dataset}", found.jobs)
                    log_method_metrics(r, found.recorded)
                results.append(r)
        frame = table(results)
        markdown = tables.markdown(frame)
        tracking.log_text(markdown + "\n", "table6.md")
        tracking.log_text(tables.csv_text(frame), "table6.csv")
        tracking.set_description(_description(profile, repetition, budget, datasets, methods, markdown, results,
                                             opened.tags))
        wall = time.perf_counter() - started
        workers = max((r.workers for r in results), default=1)
        overhead = 1 - sum(r.train_seconds for r in results) / (wall * workers)
        tracking.log_metrics({"wall_seconds": wall, "overhead_fraction": overhead})
        if failures.fatal():  # everything is recorded; the study run ends FAILED
            remove_checkpoints(study.info.run_id)
            raise failures.error()
    remove_checkpoints(study.info.run_id)
    of = "it" if workers == 1 else f"its {workers} workers' time"
    print(f"\ncompare took {wall:.0f} s; {overhead:.1%} of {of} outside Keras' training epochs "
          f"(suggesting, model building, evaluation, logging, reading back; {_method_overheads(results)})")
    print(f"\n{captions.TABLE6}\n")
    print(markdown, flush=True)
    if failures.summary():
        print(f"\n{failures.summary()}", flush=True)
    return results
