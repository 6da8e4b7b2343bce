"""`compare` (Study II, Table 6): grid, random, TPE and ASHA on each dataset, each under the
same epoch budget, as one study run -> one child per (dataset, method) -> one grandchild per trial."""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass

import keras
import pandas as pd

from hpo import tracking
from hpo.budget import Budget
from hpo.data.prepared import BACKBONE_FILE, load_prepared, prepared_dir, require_prepared
from hpo.errors import UserError
from hpo.executor import Executor
from hpo.models import backbone_factory, min_input_size
from hpo.search import METHODS, Method
from hpo.search.asha import milestones
from hpo.space import config_space, constants
from hpo.training.feature_cache import cache_for

METHOD_ORDER = ("grid", "random", "tpe", "asha")


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


def check_request(profile, datasets: list[str], methods: list[str], budget: int) -> None:
    """Everything that can be wrong with the request, found before any run starts."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise UserError(f"unknown method {', '.join(unknown) or '(none)'}: choose from {', '.join(METHOD_ORDER)}")
    for name in datasets:
        profile.target(name)
    if budget < 1:
        raise UserError(f"budget must be at least 1 epoch, got {budget}")
    if "asha" in methods:
        a = profile.asha
        try:
            first = milestones(a.r, a.R, a.eta, a.s)[0]
        except ValueError as e:
            raise UserError(f"asha settings of profile {profile.name}: {e}") from None
        if budget < first:
            raise UserError(f"budget {budget} is smaller than ASHA's first rung (r * eta^s = {first} epochs)")
    if {"grid", "random", "tpe"} & set(methods) and budget < profile.budget.epochs_per_configuration:
        raise UserError(f"budget {budget} cannot pay one configuration of "
                        f"{profile.budget.epochs_per_configuration} epochs")


def check_space(profile, n_layers: int, section: str = "applied") -> None:
    """A space (and, for the applied one, the grid) must fit the backbone, or every trial would fail."""
    spec = getattr(profile.space, section)
    layers = spec.fine_tuned_layers + (profile.space.grid.fine_tuned_layers if section == "applied" else [])
    too_deep = [k for k in layers if k > n_layers]
    if too_deep:
        raise UserError(f"space.{section}: fine_tuned_layers {too_deep} exceed the {profile.backbone.name} backbone "
                        f"({n_layers} layers)")
    small = [s for s in spec.input_size if s < min_input_size(profile.backbone.name)]
    if small:
        raise UserError(f"space.{section}.input_size {small} is below the {profile.backbone.name} minimum")


def run_method(method: str, profile, seed: int, data, budget_total: int, make_backbone, minimum: int,
               checkpoints, feature_cache=None, policy: Method | None = None,
               tags: dict[str, str] | None = None) -> MethodResult:
    """One method under its own budget, each job a trial run under the active run. `policy` is
    the method already built (by default METHODS[method] from the profile); `tags` go on every trial."""
    if policy is None:
        policy = METHODS[method](profile, seed, constants(config_space(profile.space.applied)))
    budget = Budget(budget_total)
    executor = Executor(method, data, make_backbone, minimum, checkpoints, seed,
                        keep_checkpoints=method == "asha", feature_cache=feature_cache, tags=tags)
    best, failed, train_seconds, started_method = None, 0, 0.0, time.perf_counter()
    while (job := policy.next_job(budget.remaining)) is not None:
        budget.charge(job.trial, job.epochs)
        started = time.perf_counter()
        outcome = executor.run(job)
        budget.refund(job.trial, job.epochs - outcome.epochs_trained)
        policy.report(job, outcome.score)
        train_seconds += outcome.train_seconds
        if outcome.error:
            failed += 1
        elif best is None or outcome.score > best[0]:
            best = (outcome.score, outcome.test_accuracy, job.config)
        rung = f" rung {job.rung}" if job.rung is not None else ""
        status = f"FAILED ({outcome.error})" if outcome.error else f"val {outcome.score:.4f}"
        print(f"[{data.name} {method}] trial {job.trial}{rung} epochs {job.start}->{job.stop}: {status} "
              f"| budget {budget.spent}/{budget.total} | best {best[0] if best else float('nan'):.4f} "
              f"({time.perf_counter() - started:.1f} s)", flush=True)
    return MethodResult(method, data.name, budget.spent, len(executor.trials), failed,
                        best[0] if best else math.nan, best[1] if best else math.nan, best[2] if best else None,
                        time.perf_counter() - started_method, train_seconds)


def table(results: list[MethodResult]) -> pd.DataFrame:
    """The Table 6 analogue: best validation accuracy (its test accuracy) per dataset x method."""
    rows = []
    for dataset in dict.fromkeys(r.dataset for r in results):
        mine = [r for r in results if r.dataset == dataset]
        row = {"dataset": dataset}
        for r in mine:
            row[f"{r.method} val"] = round(r.best_val, 4)
            row[f"{r.method} test"] = round(r.best_test, 4)
        vals = [r.best_val for r in mine if not math.isnan(r.best_val)]
        row["max difference"] = round(max(vals) - min(vals), 4) if vals else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def run_compare(profile, seed: int, datasets: list[str] | None = None, methods: list[str] | None = None,
                budget: int | None = None) -> list[MethodResult]:
    datasets = datasets or [t.name for t in profile.datasets.targets]
    methods = methods or list(METHOD_ORDER)
    budget = budget or profile.budget.epochs
    check_request(profile, datasets, methods, budget)
    _, manifest = require_prepared(profile, seed)
    make_backbone = backbone_factory(profile.backbone, prepared_dir(profile.name, seed) / BACKBONE_FILE)
    check_space(profile, n_layers=len(make_backbone().layers))
    minimum = min_input_size(profile.backbone.name)
    feature_cache = cache_for(profile.cache)  # shared by every method and dataset of the study
    tags = {**tracking.provenance_tags("compare", profile, seed, manifest["data_checksum"]),
            "study": f"compare-{profile.name}-seed{seed}", "datasets": ",".join(datasets),
            "methods": ",".join(methods), "budget_epochs": str(budget)}
    results = []
    started = time.perf_counter()
    with tracking.stage_run("compare", f"compare {profile.name} seed {seed}", tags), \
            tempfile.TemporaryDirectory(prefix="hpo-checkpoints-") as checkpoints:
        for dataset in datasets:
            data, _ = load_prepared(profile, seed, dataset)
            for method in methods:
                with tracking.child_run(f"{method} {dataset}", {"method": method, "dataset": dataset}):
                    keras.backend.clear_session()
                    r = run_method(method, profile, seed, data, budget, make_backbone, minimum,
                                   f"{checkpoints}/{dataset}-{method}", feature_cache)
                    tracking.log_metrics({"budget_used_epochs": r.budget_used, "n_trials": r.n_trials,
                                          "n_failed": r.n_failed, "best_val_accuracy": r.best_val,
                                          "best_test_accuracy": r.best_test, "wall_seconds": r.wall_seconds,
                                          "train_seconds": r.train_seconds})
                    if r.best_config:
                        tracking.log_dict(r.best_config, "best_config.json")
                results.append(r)
        frame = table(results)
        markdown = frame.to_markdown(index=False)
        tracking.log_text(markdown + "\n", "table6.md")
        tracking.log_text(frame.to_csv(index=False), "table6.csv")
        wall = time.perf_counter() - started
        overhead = 1 - sum(r.train_seconds for r in results) / wall
        tracking.log_metrics({"wall_seconds": wall, "overhead_fraction": overhead})
    print(f"\ncompare took {wall:.0f} s; {overhead:.0%} of it outside Keras' training epochs "
          f"(suggesting, model building, evaluation, logging)")
    print("\nTable 6 analogue: best validation accuracy per method (test accuracy of that configuration)\n")
    print(markdown, flush=True)
    return results
