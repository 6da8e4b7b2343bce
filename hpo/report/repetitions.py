"""Study II over repetitions (search seeds on the same data): each method's best validation
accuracy, and the test accuracy of the configuration it had chosen, at 25 %, 50 % and 100 % of
its budget, in every repetition; then their statistics (hpo/report/statistics.py).

A method's choice at a share of its budget follows the search loop's rule (jobs.best_job) over
the jobs that had ended by then, counting charged epochs as the anytime curve does: every logged
epoch of its trials, in the order logged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hpo.jobs import best_job
from hpo.report import statistics, tables
from hpo.report.queries import RunData
from hpo.search import registry

SHARES = (0.25, 0.5, 1.0)


def search_seed(study: RunData) -> int:
    """A study's search seed: its tag, or (studies without repetitions) its seed."""
    return int(study.tags.get("search_seed") or study.tags.get("seed") or 0)


def choices(method_run: RunData, budget: float) -> dict[float, tuple[float, float]]:
    """(best validation accuracy, test accuracy of that job) at each share of `budget`."""
    points = sorted((p.timestamp, p.step) for t in method_run.children for p in t.histories.get("val_accuracy", []))
    ends = []
    for trial in method_run.children:
        test = {p.step: p.value for p in trial.histories.get("test_accuracy", [])}
        for timestamp, epoch, value in tables.job_ends(trial):
            charged = sum(1 for p in points if p <= (timestamp, epoch))  # epochs logged up to this job's end
            ends.append((timestamp, charged, value, test.get(epoch, math.nan)))
    ends.sort()
    return best_at_shares([(charged, value, test) for _, charged, value, test in ends], budget)


def best_at_shares(ends: list[tuple[float, float, float]], budget: float) -> dict[float, tuple[float, float]]:
    """(best validation accuracy, test accuracy of that job) at each share of `budget`, from the
    jobs' (epochs charged when it ended, validation, test accuracy) in the order they ended, the
    best chosen by the loop's rule (jobs.best_job): for recorded studies and replays alike."""
    out = {}
    for share in SHARES:
        best = best_job((value, (value, test)) for charged, value, test in ends if charged <= share * budget + 1e-9)
        out[share] = best[1] if best else (math.nan, math.nan)
    return out


def scores(studies: list[RunData]) -> pd.DataFrame:
    """One row per (search seed, dataset, method, share): `val` and `test`."""
    rows = []
    for study in studies:
        budget = tables.number(study.tags.get("budget_epochs"))
        for run in tables.method_runs(study):
            for share, (val, test) in choices(run, budget).items():
                rows.append({"search seed": search_seed(study), "dataset": run.tags["dataset"],
                             "method": run.tags["method"], "share": share, "val": val, "test": test})
    return pd.DataFrame(rows, columns=["search seed", "dataset", "method", "share", "val", "test"])


def _blocks(frame: pd.DataFrame, share: float, metric: str) -> pd.DataFrame:
    """Blocks (search seed, dataset) x methods of one metric at one share."""
    at = frame[frame["share"] == share]
    table = at.pivot_table(index=["search seed", "dataset"], columns="method", values=metric, dropna=False)
    return table[tables.method_order(table.columns)]


def intervals_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % bootstrap interval over the repetitions, per dataset, method and share."""
    rows = []
    for (dataset, method, share), group in frame.groupby(["dataset", "method", "share"], sort=False):
        row = {"dataset": dataset, "method": method, "budget share": share}
        for metric in ("val", "test"):
            interval = statistics.bootstrap_interval(group[metric])
            row.setdefault("repetitions", interval.n)  # those where the method had chosen by then
            row |= {f"{metric} mean": round(interval.mean, 4), f"{metric} low": round(interval.low, 4),
                    f"{metric} high": round(interval.high, 4)}
        rows.append(row)
    return pd.DataFrame(rows)


def leaderboard_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every method by its mean rank on test accuracy at the whole budget over (search seed,
    dataset) blocks, with the rank's 95 % bootstrap interval, best first; its mean test and
    validation accuracy beside it."""
    test, val = _blocks(frame, 1.0, "test"), _blocks(frame, 1.0, "val")
    rows = []
    for method, rank in statistics.rank_intervals(test).items():
        rows.append({"method": method, "label": registry.label(method), "mean rank": round(rank.mean, 3),
                     "rank low": round(rank.low, 3), "rank high": round(rank.high, 3), "blocks": rank.n,
                     "mean test": round(float(test[method].mean()), 4),
                     "mean val": round(float(val[method].mean()), 4)})
    board = pd.DataFrame(rows, columns=["method", "label", "mean rank", "rank low", "rank high", "blocks",
                                        "mean test", "mean val"])
    return board.sort_values(["mean rank", "method"], kind="stable").reset_index(drop=True)


def ranks_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean rank of each method over (search seed, dataset) blocks, at the whole budget."""
    parts = {f"{metric} mean rank": statistics.mean_ranks(_blocks(frame, 1.0, metric)) for metric in ("val", "test")}
    return pd.DataFrame(parts).round(3).rename_axis("method").reset_index()


def pairs_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Every pair of methods at the whole budget: paired Wilcoxon tests (Holm) over the blocks."""
    rows = []
    for metric in ("val", "test"):
        for t in statistics.paired_tests(_blocks(frame, 1.0, metric)):
            rows.append({"metric": metric, "first": t.first, "second": t.second, "blocks": t.n,
                         "p": round(t.p_value, 4), "p (Holm)": round(t.p_holm, 4),
                         "P(first better)": round(t.p_first_better, 3), "different": "yes" if t.different else "no"})
    return pd.DataFrame(rows)


def claims_table(frame: pd.DataFrame, variants: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's claims on test accuracy at the whole budget (methods over (search seed,
    dataset) blocks; subset variants over search seeds), each with its one-sided test."""
    by_method = _blocks(frame, 1.0, "test")
    rows = []
    for claim in statistics.PAPER_CLAIMS:
        result = statistics.verdict(claim, by_method)
        if result is None and variants is not None:
            result = statistics.verdict(claim, variants)
        if result is not None:
            rows.append({"claim": claim.text, "blocks": result.n, "p": round(result.p_value, 4),
                         "verdict": "supported" if result.supported else "not shown"})
    return pd.DataFrame(rows, columns=["claim", "blocks", "p", "verdict"])


def variant_scores(studies: list[RunData]) -> pd.DataFrame:
    """Subset studies over search seeds: one row per search seed, one column per variant (its
    test accuracy after the final training)."""
    rows = {}
    for study in studies:
        for run in study.children:
            if run.tags.get("variant"):
                rows.setdefault(search_seed(study), {})[run.tags["variant"]] = tables.number(
                    run.metrics.get("test_accuracy"))
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def ranks_by_share(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean rank (validation accuracy) of each method at each share of the budget: methods x shares."""
    return pd.DataFrame({share: statistics.mean_ranks(_blocks(frame, share, "val")) for share in SHARES})


def mean_band(curves: pd.DataFrame, x: str, grid) -> tuple[np.ndarray, np.ndarray]:
    """One method's replayed anytime curves (hpo.studies.replay): at each point of `grid` on
    column `x`, the mean over the search seeds of the best validation accuracy so far (a step
    after each job's end; NaN until every seed has a result, so the mean never mixes a few early
    seeds with all) and the half-width of its 95 % interval (normal approximation; 0 with one seed)."""
    runs = []
    for _, seed in curves.groupby("search seed", sort=False):
        at = np.searchsorted(seed[x].to_numpy(), grid, side="right") - 1
        runs.append(np.where(at >= 0, seed["val"].to_numpy()[np.maximum(at, 0)], np.nan))
    runs = np.array(runs)
    seen = np.isfinite(runs).sum(axis=0)
    filled = np.where(np.isfinite(runs), runs, 0.0)
    mean = np.where(seen == len(runs), filled.sum(axis=0) / np.maximum(seen, 1), np.nan)
    variance = ((filled - mean) ** 2 * np.isfinite(runs)).sum(axis=0) / np.maximum(seen - 1, 1)
    return mean, 1.96 * np.sqrt(variance / np.maximum(seen, 1))


def headline_metrics(scores: pd.DataFrame) -> dict:
    """metrics.json's part of a replayed study: per dataset and method the means over the search
    seeds at the whole budget, and the verdict on each of the paper's claims."""
    whole = scores[scores["share"] == 1.0]
    return {"replay": {dataset: {method: {"mean_best_val_accuracy": round(float(g["val"].mean()), 6),
                                          "mean_best_test_accuracy": round(float(g["test"].mean()), 6),
                                          "search_seeds": int(g["search seed"].nunique())}
                                 for method, g in part.groupby("method", sort=False)}
                       for dataset, part in whole.groupby("dataset", sort=False)},
            "replay_claims": {row.claim: {"p": float(row.p), "verdict": row.verdict}
                              for row in claims_table(scores).itertuples(index=False)}}
