"""A small tracking store with the run trees the stages write (tags, params, metrics, histories,
artifacts), built with MlflowClient in a few seconds: study runs of compare and importance in
several experiments, an unfinished newer study, another seed. No training."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

T0 = 1_700_000_000_000  # ms
PROVENANCE = {"profile": "smoke", "git_commit": "0123456789abcdef0123456789abcdef01234567", "git_dirty": "false",
              "data_checksum": "d" * 64, "profile_checksum": "p" * 64}


@dataclass
class Store:
    uri: str
    client: MlflowClient
    runs: dict[str, str] = field(default_factory=dict)  # name -> run id
    importance: dict = field(default_factory=dict)  # label -> ImportanceResult the study logged


class _Builder:
    def __init__(self, client: MlflowClient, artifacts: Path):
        self.client, self.artifacts, self.clock = client, artifacts, T0
        self.experiments = {"Default": "0"}

    def experiment(self, name: str) -> str:
        if name not in self.experiments:
            location = (self.artifacts / name).as_uri()
            self.experiments[name] = self.client.create_experiment(name, artifact_location=location)
        return self.experiments[name]

    def tick(self, ms: int = 1000) -> int:
        self.clock += ms
        return self.clock

    def run(self, experiment: str, name: str, tags: dict, parent: str | None = None, params: dict | None = None,
            metrics: dict | None = None, status: str = "FINISHED") -> str:
        tags = {**tags, **({"mlflow.parentRunId": parent} if parent else {})}
        run = self.client.create_run(self.experiment(experiment), start_time=self.tick(), run_name=name)
        rid = run.info.run_id
        self.client.log_batch(rid, params=[], tags=[RunTag(k, str(v)) for k, v in tags.items()])
        for k, v in (params or {}).items():
            self.client.log_param(rid, k, v)
        if metrics:
            self.client.log_batch(rid, metrics=[Metric(k, v, self.tick(1), 0) for k, v in metrics.items()])
        if status != "RUNNING":
            self.client.set_terminated(rid, status, end_time=self.tick())
        return rid

    def trial(self, experiment, parent, method, dataset, trial, config, val, test, status="FINISHED", rung=None,
              ends=None):
        """A trial run: one val_accuracy (and the other curves) point per epoch, step = epoch, and
        `epochs` (and `test_accuracy`) at the end of each job (`ends`: default, the last epoch)."""
        ends = [len(val)] if ends is None and status == "FINISHED" else (ends or [])
        tags = {"method": method, "dataset": dataset, "trial": trial}
        if rung is not None:
            tags["rung"] = rung
        rid = self.run(experiment, f"{method} trial {trial}", tags, parent, params=config, status="RUNNING")
        points = []
        for epoch, v in enumerate(val, start=1):
            ts = self.tick(10)
            points += [Metric("val_accuracy", v, ts, epoch), Metric("train_accuracy", min(1.0, v + 0.05), ts, epoch),
                       Metric("val_loss", 1 - v if not math.isnan(v) else v, ts, epoch),
                       Metric("train_loss", 0.9 - v if not math.isnan(v) else v, ts, epoch)]
            if epoch in ends:
                points += [Metric("test_accuracy", test, self.tick(1), epoch), Metric("epochs", epoch, self.tick(1), 0)]
        self.client.log_batch(rid, metrics=points)
        self.client.set_terminated(rid, "FAILED" if status == "FAILED" else "FINISHED", end_time=self.tick())
        return rid


CONFIG = {"learning_rate": 0.001, "dropout": 0.2, "optimizer": "adam", "fine_tuned_layers": 9, "input_size": 32,
          "batch_size": 32}


def _compare(b: _Builder, experiment: str, seed: int, best: dict, status="FINISHED", datasets=("fashion", "digits"),
             search_seed: int | None = None):
    """A compare study whose (dataset, method) child has best_val_accuracy best[(dataset, method)]
    (`search_seed`: a repetition of the search on seed's data)."""
    repetition = {} if search_seed is None else {"search_seed": search_seed}
    study = b.run(experiment, "compare", {**PROVENANCE, "stage": "compare", "seed": seed,
                                          "study": f"compare-smoke-seed{seed}", "datasets": ",".join(datasets),
                                          "methods": "grid,asha", "budget_epochs": 4, **repetition},
                  status="RUNNING")
    for dataset in datasets:
        for method in ("asha", "grid"):  # not in table order: the report orders them
            v = best[dataset, method]
            child = b.run(experiment, f"{method} {dataset}", {"method": method, "dataset": dataset}, study,
                          status="RUNNING")
            if method == "grid":
                b.trial(experiment, child, method, dataset, "0", {**CONFIG, "learning_rate": 0.01}, [v - 0.2, v - 0.1],
                        v - 0.15)
                b.trial(experiment, child, method, dataset, "1", CONFIG, [v - 0.05, v], v - 0.02)
                n, failed, used = 2, 0, 4
            else:
                b.trial(experiment, child, method, dataset, "0", CONFIG, [v - 0.3], v - 0.3, rung="0")
                b.trial(experiment, child, method, dataset, "1", {**CONFIG, "dropout": 0.3}, [v, v - 0.01], v - 0.01,
                        rung="1", ends=[1, 2])  # its best score is at the end of rung 0
                b.trial(experiment, child, method, dataset, "2", {**CONFIG, "learning_rate": 5.0}, [math.nan],
                        math.nan, status="FAILED", rung="0")
                n, failed, used = 3, 1, 4
            b.client.log_batch(child, metrics=[Metric(k, val, b.tick(1), 0) for k, val in {
                "budget_used_epochs": used, "n_trials": n, "n_failed": failed, "best_val_accuracy": v,
                "best_test_accuracy": v - 0.02, "wall_seconds": 3.5, "train_seconds": 2.0}.items()])
            b.client.set_terminated(child, "FINISHED", end_time=b.tick())
    b.client.log_batch(study, metrics=[Metric("wall_seconds", 10.0, b.tick(1), 0)])
    b.client.log_text(study, "| made up |\n", "table6.md")
    if status != "RUNNING":
        b.client.set_terminated(study, status, end_time=b.tick())
    return study


def _importance(b: _Builder, experiment: str, seed: int, marginals: bool = True):
    """An importance study over the smoke profile's initial space: two datasets of 6 trainings,
    importances computed with the report's own fANOVA (and logged like the stage logs them);
    without `marginals`, a study that did not log the marginals of Fig. 3."""
    from hpo.profiles import load_profile
    from hpo.report.importance import MARGINALS_FILE, fanova_importances, marginals_json
    from hpo.space import config_space, sample_configurations

    space = config_space(load_profile("smoke").space.initial)
    datasets = ("fashion", "digits")
    study = b.run(experiment, "importance", {**PROVENANCE, "stage": "importance", "seed": seed,
                                             "study": f"importance-smoke-seed{seed}", "datasets": ",".join(datasets)},
                  status="RUNNING")
    pooled_configs, pooled_scores, results = [], [], {}

    def log_importances(run_id, result):
        metrics = {f"importance_{r.hyperparameter}": r.importance
                   for r in result.individual.itertuples()}
        metrics |= {f"importance_std_{r.hyperparameter}": r.std for r in result.individual.itertuples()}
        b.client.log_batch(run_id, metrics=[Metric(k, v, b.tick(1), 0) for k, v in metrics.items()])

    for index, dataset in enumerate(datasets):
        child = b.run(experiment, f"importance {dataset}", {"dataset": dataset}, study, status="RUNNING")
        configs = sample_configurations(space, 6, seed + 1000 * index)
        scores = []
        for trial, config in enumerate(configs):
            score = 0.3 + 0.5 * (config["learning_rate"] > 1e-3) + 0.1 * config["dropout"] + 0.01 * trial
            failed = trial == 5 and index == 1
            b.trial(experiment, child, "random", dataset, str(trial), config, [score / 2, score],
                    score - 0.01, status="FAILED" if failed else "FINISHED")
            scores.append(math.nan if failed else score)
        results[dataset] = fanova_importances(space, configs, scores, seed=seed)
        log_importances(child, results[dataset])
        pooled_configs += configs
        pooled_scores += scores
        b.client.set_terminated(child, "FINISHED", end_time=b.tick())
    results["all datasets"] = fanova_importances(space, pooled_configs, pooled_scores, seed=seed)
    log_importances(study, results["all datasets"])
    rows = ["dataset,set 1,set 1 importance,set 2,set 2 importance"]
    for label, result in results.items():
        top = result.pairs.head(2)
        rows.append(",".join([label] + [f"{p.first} & {p.second},{round(p.importance, 3)}" for p in top.itertuples()]))
    b.client.log_text(study, "\n".join(rows) + "\n", "table5_pairs.csv")
    if marginals:
        b.client.log_text(study, marginals_json(results), MARGINALS_FILE)
    b.client.set_terminated(study, "FINISHED", end_time=b.tick())
    return study, results


BEST_A = {("fashion", "grid"): 0.70, ("fashion", "asha"): 0.75, ("digits", "grid"): 0.80, ("digits", "asha"): 0.60}
BEST_B = {("fashion", "grid"): 0.81, ("fashion", "asha"): 0.86, ("digits", "grid"): 0.93, ("digits", "asha"): 0.90}
BEST_SEED1 = {("fashion", "grid"): 0.5, ("fashion", "asha"): 0.5, ("digits", "grid"): 0.5, ("digits", "asha"): 0.5}


def build(root: Path, importance: bool = True) -> Store:
    """compare seed 0: A (experiment compare), then B (experiment Default: `mlflow run` without an
    experiment name), then C (RUNNING); compare seed 1 after them; a train run; importance seed 0,
    and importance seed 7 that logged no marginals."""
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    b = _Builder(client, root / "artifacts")
    store = Store(uri, client)
    store.runs["A"] = _compare(b, "compare", 0, BEST_A)
    store.runs["B"] = _compare(b, "Default", 0, BEST_B)
    store.runs["C"] = _compare(b, "compare", 0, BEST_B, status="RUNNING")
    store.runs["seed1"] = _compare(b, "other", 1, BEST_SEED1, datasets=("digits",))
    store.runs["train"] = b.run("train", "a train run", {**PROVENANCE, "stage": "train", "seed": 0})
    if importance:
        store.runs["importance"], store.importance = _importance(b, "importance", 0)
        store.runs["importance without marginals"], _ = _importance(b, "importance", 7, marginals=False)
    return store


_SHARED: dict[str, Store] = {}


def shared(tmp_path_factory) -> Store:
    """One store for the whole test session (reports only read it)."""
    if "store" not in _SHARED:
        _SHARED["store"] = build(tmp_path_factory.mktemp("report-store"))
    return _SHARED["store"]


def build_repetitions(root: Path, search_seeds=(0, 1, 2, 3)) -> Store:
    """Compare studies of seed 0 repeated over `search_seeds`: ASHA 0.05 above grid on both
    datasets in every repetition, each repetition a little apart from the others."""
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    b = _Builder(client, root / "artifacts")
    store = Store(uri, client)
    for s in search_seeds:
        best = {(d, m): base + 0.01 * s + (0.05 if m == "asha" else 0)
                for d, base in (("fashion", 0.7), ("digits", 0.8)) for m in ("grid", "asha")}
        store.runs[f"search {s}"] = _compare(b, "compare", 0, best, search_seed=s)
    return store
