"""`importance` (Study I, Tables 4-5, Fig. 3): N trainings per dataset with configurations drawn
at random from the initial space (Table 2A), then fANOVA on their validation accuracies, per
dataset and pooled over all datasets.

Run tree: study run -> one child per dataset -> one grandchild per training. Like every study,
a rerun continues the same study run and reads back the trainings the store holds, so it
finishes what an interrupted one left, and a finished one gives the same importances untrained.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from hpo import mlflow_ui, tracking
from hpo.data.prepared import check_prepared, require_prepared
from hpo.errors import UserError
from hpo.executor import worker
from hpo.executor.drivers import IN_PROCESS, Engine
from hpo.report import captions, tables
from hpo.report.importance import MARGINALS_FILE, ImportanceResult, fanova_importances, marginals_json, plot_marginals
from hpo.report.tables import POOLED
from hpo.search import registry
from hpo.search.base import Fifo, ListSearcher
from hpo.search.loop import SearchResult
from hpo.space import config_space, sample_configurations
from hpo.studies.failures import Failures
from hpo.studies.searching import Repetition, search
from hpo.studies.skeleton import open_study


@dataclass
class Training:
    config: dict
    val_accuracy: float  # NaN when the training failed
    recorded: bool  # read back from the store, not trained


def configurations(profile, seed: int, dataset_index: int) -> list[dict]:
    """The dataset's N configurations: independent draws per dataset, fixed by the seed."""
    space = config_space(profile.space.initial)
    return sample_configurations(space, profile.importance.trainings, seed + 1000 * dataset_index)


def _train_dataset(profile, seed: int, dataset: str, configs: list[dict], tags: dict[str, str],
                   engine: Engine) -> tuple[list[Training], SearchResult]:
    """The dataset's trainings as one search over the fixed configurations (a random search whose
    draws were made up front), so a rerun reads back every training the store holds; and the search."""
    epochs = profile.importance.epochs
    method = Fifo(registry.STUDY_I, ListSearcher(configs), len(configs), epochs)
    found = search(method, len(configs) * epochs, profile, seed, dataset, tags, f"{dataset} importance",
                   score_test=False, engine=engine)  # Study I analyses validation accuracy alone
    return [Training(job.config, outcome.score, recorded=outcome.recorded)
            for job, outcome in sorted(found.jobs, key=lambda pair: pair[0].trial)], found


def _analyse(profile, seed: int, trainings: list[Training], label: str, out: Path) -> ImportanceResult:
    result = fanova_importances(config_space(profile.space.initial), [t.config for t in trainings],
                                [t.val_accuracy for t in trainings], seed=seed)
    tracking.log_metrics({f"importance_{row.hyperparameter}": row.importance for row in result.individual.itertuples()}
                         | {f"importance_std_{row.hyperparameter}": row.std for row in result.individual.itertuples()})
    folder = out / label.replace(" ", "_")
    plot_marginals(result, folder, ylabel=f"predicted val accuracy ({label})")
    tracking.log_artifacts(folder, f"marginals/{folder.name}")
    return result


def importance_tables(results: dict[str, ImportanceResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 4 and 5 of the analyses, built as the report builds them."""
    individual = tables.table4_frame((label, {row.hyperparameter: (row.importance, row.std)
                                              for row in r.individual.itertuples()}) for label, r in results.items())
    pairs = tables.table5_frame((label, r.pairs[["first", "second", "importance"]].itertuples(index=False))
                                for label, r in results.items())
    return individual, pairs


def run_importance(profile, seed: int, datasets: list[str] | None = None,
                   restart: bool = False, engine: Engine = IN_PROCESS) -> dict[str, ImportanceResult]:
    datasets = datasets or [t.name for t in profile.datasets.targets]
    for name in datasets:
        profile.target(name)
    prepared, manifest = require_prepared(profile, seed)
    check_prepared(profile, seed, datasets)
    worker.backbone(profile, seed)()  # loaded now: a missing or damaged backbone fails before any run
    opened = open_study("importance", profile, Repetition(seed, seed), manifest["data_checksum"],
                        key={"datasets": datasets}, tags={"datasets": ",".join(datasets)})
    started = time.perf_counter()
    with opened.run(restart), \
            tempfile.TemporaryDirectory(prefix="hpo-importance-") as scratch:
        out = Path(scratch)
        tracking.log_params({"trainings": profile.importance.trainings, "epochs": profile.importance.epochs})
        tracking.log_inputs([i for d in datasets for i in mlflow_ui.dataset_inputs(prepared, manifest, d)])
        per_dataset: dict[str, list[Training]] = {}
        results: dict[str, ImportanceResult] = {}
        errors, failures = [], Failures()
        for index, dataset in enumerate(datasets):
            trial_tags = {**opened.trial_tags, "data_checksum": manifest["datasets"][dataset]["checksum"]}
            with tracking.child_run(f"importance {dataset}", {"dataset": dataset, tracking.STUDY_KEY: opened.key},
                                    reopen=True):
                keras.backend.clear_session()
                tracking.log_inputs(mlflow_ui.dataset_inputs(prepared, manifest, dataset))
                trainings, found = _train_dataset(profile, seed, dataset, configurations(profile, seed, index),
                                                  trial_tags, engine)
                per_dataset[dataset] = trainings
                failures.add(f"importance on {dataset}", found.jobs)
                failed = sum(math.isnan(t.val_accuracy) for t in trainings)
                tracking.log_metrics({"n_trials": len(trainings), "n_failed": failed,
                                      "n_recorded_jobs": sum(t.recorded for t in trainings)})
                try:
                    results[dataset] = _analyse(profile, seed, trainings, dataset, out)
                except UserError as e:
                    errors.append(f"{dataset}: {e}")
                    tracking.set_tags({"importance_error": str(e)})
        if len(datasets) > 1:
            pooled = [t for trainings in per_dataset.values() for t in trainings]
            try:
                results[POOLED] = _analyse(profile, seed, pooled, POOLED, out)
            except UserError as e:
                errors.append(f"{POOLED}: {e}")
        if results:
            individual, pairs = importance_tables(results)
            for name, frame in (("table4_importance", individual), ("table5_pairs", pairs)):
                tracking.log_text(tables.markdown(frame) + "\n", f"{name}.md")
                tracking.log_text(tables.csv_text(frame), f"{name}.csv")
            tracking.log_text(marginals_json(results), MARGINALS_FILE)
            command = mlflow_ui.reproduce_command("importance", profile, seed, datasets=",".join(datasets))
            tracking.set_description(mlflow_ui.study_description(
                f"Study I (importance): profile {profile.name}, seed {seed}, {profile.importance.trainings} random "
                f"trainings of {profile.importance.epochs} epochs per dataset", profile,
                [(captions.TABLE4, tables.markdown(individual)),
                 (captions.TABLE5, tables.markdown(pairs))], [], command, opened.tags))
        wall = time.perf_counter() - started
        tracking.log_metrics({"wall_seconds": wall})
        if results:
            print(f"\nimportance took {wall:.0f} s\n\n{captions.TABLE4}\n")
            print(tables.markdown(individual))
            print(f"\n{captions.TABLE5}\n")
            print(tables.markdown(pairs), flush=True)
        if failures.fatal():  # everything is recorded; the study run ends FAILED
            raise failures.error()
        if failures.summary():
            print(f"\n{failures.summary()}", flush=True)
        if errors:
            raise UserError("fANOVA could not run for " + "; ".join(errors))
    return results
