"""Tables 4 to 7 and the best-job rule, in one place: each table is a pure function of plain
numbers (`table4_frame`, `table5_frame`, `table6_frame`, `table7_frame`) that the stages call on
their results and the report on study runs read back from the tracking store (plain `RunData`,
see hpo/report/queries.py), so a stage's table and the report's are the same bytes. Written as
Markdown, CSV and LaTeX; rows follow the study's dataset order and the paper's method order, so
the same tracking data gives the same files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpo.jobs import best_job
from hpo.search import registry
from hpo.tracking import trial_record

if TYPE_CHECKING:
    from hpo.report.queries import RunData

POOLED = "all datasets"  # the importance stage's label for its analysis over every dataset
TOP_PAIRS = 2  # Table 5 lists the two most important pairs
TABLE_FILES = ("md", "csv", "tex")


def number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _ordered(names, preferred) -> list[str]:
    names = list(dict.fromkeys(names))
    known = [n for n in preferred if n in names]
    return known + sorted(n for n in names if n not in known)


def method_order(methods) -> list[str]:
    """Methods as tables list them: the registry's order, then any it does not know (a plug-in
    since uninstalled), by name."""
    return _ordered(methods, registry.names())


def dataset_order(study: RunData) -> list[str]:
    """The study's datasets in the order it ran them (its `datasets` tag), then any others."""
    tagged = [d for d in study.tags.get("datasets", "").split(",") if d]
    return _ordered([c.tags.get("dataset", "") for c in study.children], tagged)


def method_runs(study: RunData) -> list[RunData]:
    """The compare study's (dataset, method) children in table order; for a pair logged twice,
    the later run."""
    latest = {}
    for child in sorted(study.children, key=lambda r: (r.start_time, r.run_id)):
        if child.tags.get("method") and child.tags.get("dataset"):
            latest[child.tags["dataset"], child.tags["method"]] = child
    datasets = dataset_order(study)
    methods = _ordered([m for _, m in latest], registry.names())
    return [latest[d, m] for d in datasets for m in methods if (d, m) in latest]


def table6(study: RunData) -> pd.DataFrame:
    """Table 6 analogue of a compare study read back from the store."""
    return table6_frame((run.tags["dataset"], run.tags["method"], run.metrics.get("best_val_accuracy"),
                         run.metrics.get("best_test_accuracy")) for run in method_runs(study))


def table6_frame(results) -> pd.DataFrame:
    """Table 6 analogue, for the compare stage and the report alike: from (dataset, method, best
    validation accuracy, test accuracy of that configuration) in dataset order, one row per dataset,
    the methods in the paper's order, and the spread of the best validation accuracies."""
    rows, methods = {}, []
    for dataset, method, val, test in results:
        row = rows.setdefault(dataset, {"dataset": dataset})
        row[f"{method} val"], row[f"{method} test"] = number(val), number(test)
        methods.append(method)
    columns = ["dataset"] + [f"{m} {kind}" for m in method_order(methods) for kind in ("val", "test")]
    frame = pd.DataFrame(list(rows.values()), columns=columns)
    vals = frame[[c for c in columns if c.endswith(" val")]]
    frame["max difference"] = vals.max(axis=1, skipna=True) - vals.min(axis=1, skipna=True)
    return frame.round(4)


def budget_table(study: RunData) -> pd.DataFrame:
    """Epochs each method was charged against its budget, its trials and failed trials, and the
    epochs its trials logged (one `val_accuracy` point per charged epoch)."""
    budget = number(study.tags.get("budget_epochs"))
    rows = []
    for run in method_runs(study):
        m = run.metrics
        logged = sum(len(t.histories.get("val_accuracy", [])) for t in run.children)
        rows.append({"dataset": run.tags["dataset"], "method": run.tags["method"], "budget": budget,
                     "epochs charged": number(m.get("budget_used_epochs")), "epochs logged": logged,
                     "trials": number(m.get("n_trials")), "failed trials": number(m.get("n_failed")),
                     "train seconds": round(number(m.get("train_seconds")), 1),
                     "wall seconds": round(number(m.get("wall_seconds")), 1), "run id": run.run_id})
    return pd.DataFrame(rows, columns=["dataset", "method", "budget", "epochs charged", "epochs logged", "trials",
                                       "failed trials", "train seconds", "wall seconds", "run id"])


def _trial_key(trial: RunData):
    try:
        return (0, int(trial.tags.get("trial", "")), trial.run_id)
    except ValueError:
        return (1, 0, trial.run_id)


def anytime(study: RunData) -> pd.DataFrame:
    """The anytime view: for each (dataset, method), every logged `val_accuracy` point of its
    trials is one charged epoch; points in the order they were logged (timestamp, then step),
    numbered 1.. as the epochs charged so far, with the best validation accuracy so far."""
    frames = []
    for run in method_runs(study):
        points = sorted((p.timestamp, p.step, _trial_key(t), t.tags.get("trial", ""), p.value)
                        for t in run.children for p in t.histories.get("val_accuracy", []))
        values = np.array([p[4] for p in points], dtype=float)
        best = np.fmax.accumulate(values) if len(values) else values  # a NaN (diverged) epoch never leads
        frames.append(pd.DataFrame({"dataset": run.tags["dataset"], "method": run.tags["method"],
                                    "epochs charged": np.arange(1, len(values) + 1), "trial": [p[3] for p in points],
                                    "epoch": [p[1] for p in points], "val_accuracy": values,
                                    "best val_accuracy": best}))
    columns = ["dataset", "method", "epochs charged", "trial", "epoch", "val_accuracy", "best val_accuracy"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def job_ends(trial: RunData) -> list[tuple[int, int, float]]:
    """(timestamp, epoch, val_accuracy) at the end of each job the trial completed (the trial
    record's rule, hpo/tracking/trial_record.py)."""
    return trial_record.job_ends(trial.histories.get("val_accuracy", []), trial.histories.get("epochs"),
                                 trial.status == "FINISHED")


def best_point(method_run: RunData) -> tuple[RunData, int, float] | None:
    """(trial, epoch, val_accuracy) of the score the method selected (Table 6): jobs.best_job, the
    rule the search loop applies, over the jobs' ends in the order they were logged."""
    ends = sorted(((ts, _trial_key(t), epoch, v, t) for t in method_run.children for ts, epoch, v in job_ends(t)),
                  key=lambda end: end[:3])
    best = best_job((v, (t, epoch, v)) for _, _, epoch, v, t in ends)
    return best[1] if best else None


def importance_labels(study: RunData) -> list[tuple[str, RunData]]:
    """(label, run holding its importance_<hp> metrics): each dataset's child, then the pooled
    analysis on the study run itself."""
    by_dataset = {c.tags.get("dataset"): c for c in sorted(study.children, key=lambda r: (r.start_time, r.run_id))}
    labels = [(d, by_dataset[d]) for d in dataset_order(study) if d in by_dataset]
    if any(k.startswith("importance_") for k in study.metrics):
        labels.append((POOLED, study))
    return [(label, run) for label, run in labels if any(k.startswith("importance_") for k in run.metrics)]


def _importances(run: RunData) -> dict[str, tuple[float, float]]:
    return {k[len("importance_"):]: (v, run.metrics.get(f"importance_std_{k[len('importance_'):]}", math.nan))
            for k, v in run.metrics.items() if k.startswith("importance_") and not k.startswith("importance_std_")}


def importance_table(study: RunData) -> pd.DataFrame:
    """Table 4 of an importance study read back from the store (its logged importances)."""
    return table4_frame((label, _importances(run)) for label, run in importance_labels(study))


def table4_frame(importances) -> pd.DataFrame:
    """Table 4 / A.8 analogue, for the importance stage and the report alike: from (label,
    {hyperparameter: (fANOVA importance, its std over the forest's trees)}) per dataset, then
    pooled: one row per hyperparameter, most important for the last label first."""
    importances = [(label, {name: (float(v), float(s)) for name, (v, s) in values.items()})
                   for label, values in importances]
    names = sorted({name for _, values in importances for name in values})
    frame = pd.DataFrame({"hyperparameter": names})
    for label, values in importances:
        frame[label] = [round(values.get(n, (math.nan, math.nan))[0], 3) for n in names]
        frame[f"{label} std"] = [round(values.get(n, (math.nan, math.nan))[1], 3) for n in names]
    if importances:
        frame = frame.sort_values(importances[-1][0], ascending=False, kind="stable")
    return frame.reset_index(drop=True)


def table5_frame(pairs) -> pd.DataFrame:
    """Table 5 analogue, for the importance stage (the report reads back its CSV): from (label,
    [(first, second, importance), ...] most important first) per dataset, then pooled: the
    TOP_PAIRS most important pairs of each."""
    rows = []
    for label, ranked in pairs:
        row = {"dataset": label}
        for i, (first, second, importance) in enumerate(list(ranked)[:TOP_PAIRS], start=1):
            row[f"set {i}"] = f"{first} & {second}"
            row[f"set {i} importance"] = round(float(importance), 3)
        rows.append(row)
    return pd.DataFrame(rows)


def pairs_table(csv_text: str | None) -> pd.DataFrame | None:
    """Table 5 of an importance study, as the stage logged it (table5_frame's CSV)."""
    if not csv_text:
        return None
    from io import StringIO
    return pd.read_csv(StringIO(csv_text))


def table7(study: RunData) -> pd.DataFrame:
    """Table 7 analogue: per subset variant, its best configuration and the test accuracy of that
    configuration retrained on the whole training set (variant runs: tag `variant`, metric
    `test_accuracy`, the configuration as params)."""
    order = dataset_order(study)
    variants = sorted((c for c in study.children if c.tags.get("variant")), key=lambda r: (
        order.index(r.tags["dataset"]) if r.tags.get("dataset") in order else len(order), r.start_time, r.run_id))
    return table7_frame((r.tags.get("dataset", ""), r.tags["variant"], r.params, r.metrics.get("test_accuracy"))
                        for r in variants)


def table7_frame(results) -> pd.DataFrame:
    """Table 7 analogue, for the subset stage and the report alike: from (dataset, variant, its
    best configuration (values or their text, as logged params), test accuracy after the final
    training), one row per variant."""
    rows = []
    for dataset, variant, config, test in results:
        lr, layers = number(config.get("learning_rate")), number(config.get("fine_tuned_layers"))
        rows.append({"dataset": dataset, "variant": variant,
                     "learning rate": lr if math.isnan(lr) else float(f"{lr:.4g}"),
                     "dropout": round(number(config.get("dropout")), 4),
                     "optimizer": config.get("optimizer", ""),
                     "fine-tuned layers": "" if math.isnan(layers) else int(layers),
                     "test accuracy": round(number(test), 4)})
    return pd.DataFrame(rows, columns=["dataset", "variant", "learning rate", "dropout", "optimizer",
                                       "fine-tuned layers", "test accuracy"])


def _jsonnumber(value) -> float | None:
    value = number(value)
    return None if math.isnan(value) else round(value, 6)


def headline_metrics(compare: RunData | None, subset: RunData | None) -> dict:
    """metrics.json: best accuracy per dataset and method (Study II), test accuracy per dataset
    and subset variant (Study III); a study that has not run is an empty object."""
    metrics = {"compare": {}, "subset": {}}
    if compare is not None:
        for run in method_runs(compare):
            metrics["compare"].setdefault(run.tags["dataset"], {})[run.tags["method"]] = {
                "best_val_accuracy": _jsonnumber(run.metrics.get("best_val_accuracy")),
                "best_test_accuracy": _jsonnumber(run.metrics.get("best_test_accuracy")),
                "epochs_charged": _jsonnumber(run.metrics.get("budget_used_epochs"))}
    if subset is not None:
        for row in table7(subset).itertuples(index=False):
            metrics["subset"].setdefault(row.dataset or "all", {})[row.variant] = {
                "test_accuracy": _jsonnumber(row[-1])}
    return metrics


def markdown(frame: pd.DataFrame) -> str:
    """A table as Markdown, as the stages print and log it and the report writes it."""
    return frame.to_markdown(index=False, floatfmt="g", missingval="-")


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")


def write_table(frame: pd.DataFrame, folder: Path, name: str, caption: str) -> list[Path]:
    """`name`.md, .csv and .tex in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{ext}" for ext in TABLE_FILES]
    paths[0].write_text(markdown(frame) + "\n")
    paths[1].write_text(csv_text(frame))
    latex = frame.to_latex(index=False, na_rep="--", float_format=lambda x: f"{x:g}", caption=caption,
                           label=f"tab:{name}", escape=True)
    paths[2].write_text(latex)
    return paths
