"""The report page's sections: each study's tables and figures, written under the output folder
as files, and the HTML that shows them; the provenance of the chosen study runs and the list of
their runs."""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from hpo.mlflow_ui import run_url
from hpo.report import captions, figures, page, repetitions, tables
from hpo.report.importance import MARGINALS_FILE, read_marginals
from hpo.report.queries import RunData, TrackingReader
from hpo.report.selection import PAIRS_FILE, Found

STUDY_STAGES = ("importance", "compare", "subset")  # stages whose study runs hold results
TABLES_DIR = "tables"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M") if ms else "-"


class Writer:
    """Writes tables and figures under `out` and returns the page's HTML for them."""

    def __init__(self, out: Path):
        self.out = out

    def table(self, frame: pd.DataFrame, name: str, caption: str, best=(), links=None) -> str:
        paths = tables.write_table(frame, self.out / TABLES_DIR, name, caption)
        return (f"<h3>{escape(caption)}</h3>\n" + page.table_html(frame, best, links)
                + page.files_html(p.relative_to(self.out).as_posix() for p in paths))

    def figure(self, fig, name: str, caption: str) -> str:
        png, svg = figures.save(fig, self.out / "figures" / name)
        rel = lambda p: p.relative_to(self.out).as_posix()  # noqa: E731
        return page.figure_html(rel(png), rel(svg), caption, alt=caption)


def compare(w: Writer, reader: TrackingReader, study: RunData) -> str:
    parts = []
    t6 = tables.table6(study)
    if t6.empty:
        return page.not_run_html(f"the compare study {study.run_id} has no method runs")
    parts.append(w.table(t6, "table6", captions.TABLE6,
                         best=page.best_cells(t6, [c for c in t6.columns if c.endswith(" val")])))
    curve = tables.anytime(study)
    curve.to_csv(w.out / "anytime.csv", index=False, lineterminator="\n")
    budget = tables.number(study.tags.get("budget_epochs"))
    row = []
    for dataset in tables.dataset_order(study):
        part = curve[curve["dataset"] == dataset]
        if not part.empty:
            row.append(w.figure(figures.anytime_figure(part, dataset, budget), f"anytime_{dataset}",
                                  f"{dataset}: best-so-far validation accuracy against epochs charged, per method. "
                                  "Every logged epoch of every trial counts, in the order trained (the tables select "
                                  "on each trial's last epoch, so a curve can end above its Table 6 value)."))
    parts.append(page.row_html(row))
    links = {"run id": lambda rid: run_url(reader.ui_base(), study.experiment_id, rid)}
    parts.append(w.table(tables.budget_table(study), "budget", "Budget: epochs charged per method (one per logged "
                         "epoch), trials and failed trials", links=links))
    parts.append(page.files_html(["anytime.csv"]))
    by_dataset: dict[str, dict[str, tuple]] = {}
    for method_run in tables.method_runs(study):
        best = tables.best_point(method_run)
        if best is not None:
            by_dataset.setdefault(method_run.tags["dataset"], {})[method_run.tags["method"]] = best
    for dataset, best in by_dataset.items():
        parts.append(w.figure(figures.curves_figure(best, dataset), f"curves_{dataset}",
                              f"{dataset}: learning curves of each method's best trial, the one that scored its "
                              "Table 6 validation accuracy (the star marks that epoch)"))
    return "\n".join(parts)


def importance(w: Writer, study: RunData, artifacts: dict[str, str | None]) -> str:
    parts = []
    t4 = tables.importance_table(study)
    if len(t4.columns) > 1:
        parts.append(w.table(t4, "table4_importance", captions.TABLE4))
        parts.append(w.figure(figures.importance_figure(t4), "importance", "fANOVA importance per hyperparameter "
                              "and dataset, with one std over the forest's trees"))
    else:
        parts.append(page.note_html("fANOVA importances were not logged (see the study run's tags)."))
    t5 = tables.pairs_table(artifacts.get(PAIRS_FILE))
    if t5 is not None:
        parts.append(w.table(t5, "table5_pairs", captions.TABLE5))
    else:
        parts.append(page.note_html(f"Table 5: the study run has no {PAIRS_FILE} artifact."))
    marginals = artifacts.get(MARGINALS_FILE)
    if marginals is None:
        parts.append(page.note_html(f"Fig. 3: the study run has no {MARGINALS_FILE} artifact; run the importance "
                                    "stage again (it reads back its trainings and trains none) to log it."))
    for label, (n_trials, curves) in read_marginals(marginals or "{}").items():
        parts.append(w.figure(figures.marginals_figure(curves, label, n_trials),
                              f"marginals_{label.replace(' ', '_')}",
                              f"Fig. 3 analogue ({label}): predicted validation accuracy against each hyperparameter, "
                              "the others averaged out, with one std over the trees"))
    return "\n".join(parts)


def subset(w: Writer, study: RunData) -> str:
    t7 = tables.table7(study)
    if t7.empty:
        return page.not_run_html(f"the subset study {study.run_id} has no variant runs")
    return w.table(t7, "table7", captions.TABLE7, best=page.best_cells(t7, ["test accuracy"]))


def provenance(reader: TrackingReader, found: dict[str, Found]) -> str:
    rows = []
    for stage, f in found.items():
        r = f.run
        tags = r.tags if r else {}
        commit = tags.get("git_commit", "")[:10] + (" (dirty)" if tags.get("git_dirty") == "true" else "")
        rows.append({"stage": stage, "study run": r.run_id if r else "not run",
                     "status": r.status if r else "-", "started (UTC)": _when(r.start_time) if r else "-",
                     "git commit": commit if r else "-",
                     "profile": tags.get("profile", "-"), "seed": tags.get("seed", "-"),
                     "data checksum": tags.get("data_checksum", "-")[:12],
                     "chosen": f.how if r else "-"})
    frame = pd.DataFrame(rows)
    links = {s: f.run for s, f in found.items() if f.run}
    by_id = {r.run_id: r for r in links.values()}
    html = page.table_html(frame, links={"study run": lambda rid: reader.link(by_id[rid]) if rid in by_id else None})
    passed = [f"{p.run_id} ({f.stage}, {p.status})" for f in found.values() if f.run for p in f.passed_over]
    if passed:
        html += page.note_html("Newer study runs that did not finish were passed over: " + ", ".join(passed))
    return html


def runs(reader: TrackingReader, found: dict[str, Found]) -> str:
    rows = []
    for stage in STUDY_STAGES:
        study = found[stage].run
        if study is None:
            continue
        experiment = reader.experiment_names.get(study.experiment_id, study.experiment_id)
        rows.append({"stage": stage, "experiment": experiment, "level": "study", "dataset": "-",
                     "method or variant": "-", "status": study.status, "child runs": len(study.children),
                     "run": study.run_id, "_link": reader.link(study)})
        for child in sorted(study.children, key=lambda r: (r.start_time, r.run_id)):
            rows.append({"stage": stage, "experiment": experiment, "level": "child",
                         "dataset": child.tags.get("dataset", ""),
                         "method or variant": child.tags.get("method") or child.tags.get("variant", ""),
                         "status": child.status, "child runs": len(child.children), "run": child.run_id,
                         "_link": reader.link(child)})
    if not rows:
        return page.note_html("No child runs.")
    frame = pd.DataFrame(rows)
    link_of = dict(zip(frame["run"], frame.pop("_link"), strict=True))
    return page.table_html(frame, links={"run": link_of.get})


def intro(reader: TrackingReader, profile: str, seed: int | None, found: dict[str, Found]) -> str:
    seed_text = "any seed" if seed is None else f"seed {seed}"
    return "\n".join([
        page.paragraph(f"Profile {profile}, {seed_text}. Everything on this page was read from the tracking store "
                       f"{reader.uri}: for each stage, the latest study run that FINISHED for this profile and seed "
                       "(runs still RUNNING, FAILED or KILLED are passed over), unless a study run was given with "
                       "--study. Run links open the MLflow UI at " + reader.ui_base()
                       + ("" if reader.ui_base() == reader.uri.rstrip("/") else " (where make ui serves this store)")
                       + "."),
        provenance(reader, found)])


def repeated(w: Writer, studies: list[RunData], subsets: list[RunData]) -> str:
    """Study II over its repetitions (search seeds): intervals, ranks, paired tests, the paper's
    claims; nothing with a single repetition."""
    if len(studies) < 2:
        return ""
    frame = repetitions.scores(studies)
    seeds = ", ".join(str(repetitions.search_seed(s)) for s in studies)
    variants = repetitions.variant_scores(subsets) if len(subsets) > 1 else None
    return "\n".join([f"<h3>Repetitions: {len(studies)} search seeds ({escape(seeds)}) on the same data</h3>",
                      *statistics_tables(w, frame, "", ("leaderboard", "repetitions", "ranks", "pairs", "claims"),
                                         variants),
                      _rank_plot(w, frame, "ranks", "")])


def _rank_plot(w: Writer, frame: pd.DataFrame, name: str, prefix: str) -> str:
    return w.figure(figures.rank_figure(repetitions.ranks_by_share(frame)), name,
                    prefix + "Mean rank (validation accuracy) of each method at 25 %, 50 % and 100 % of the budget, "
                    "over (search seed, dataset) blocks")


def statistics_tables(w: Writer, frame: pd.DataFrame, prefix: str, names: tuple[str, str, str, str, str],
                      variants: pd.DataFrame | None = None) -> list[str]:
    """The leaderboard, intervals, ranks, paired tests and the paper's claims of
    repetitions.scores' `frame`, as tables `names`, their captions starting with `prefix`."""
    return [w.table(repetitions.leaderboard_table(frame), names[0],
                    prefix + "Leaderboard: every method by its mean rank on the test accuracy of the configuration "
                    "it chose at the whole budget, over (search seed, dataset) blocks (1: best), with the rank's "
                    "95 % bootstrap interval; its mean test and validation accuracy beside it"),
            w.table(repetitions.intervals_table(frame), names[1],
                    prefix + "Best validation accuracy (val) and the test accuracy of the configuration chosen (test) "
                    "at 25 %, 50 % and 100 % of the budget: mean over the search seeds and 95 % bootstrap interval"),
            w.table(repetitions.ranks_table(frame), names[2],
                    prefix + "Mean rank of each method over (search seed, dataset) blocks, at the whole budget "
                    "(1: best)"),
            w.table(repetitions.pairs_table(frame), names[3],
                    prefix + "Every pair of methods at the whole budget: paired Wilcoxon signed-rank test over the "
                    "blocks, Holm-corrected; P(first better): the share of blocks the first wins (ties half)"),
            w.table(repetitions.claims_table(frame, variants), names[4],
                    prefix + "The paper's claims on test accuracy, each a one-sided Wilcoxon test over the blocks "
                    "(supported: p < 0.05)")]


REPLAY_PLOT = "replay_anytime.csv"  # a DVC plot: mean best validation accuracy per method against epochs


def replayed(w: Writer, study: RunData, scores: pd.DataFrame, curves: pd.DataFrame) -> str:
    """A replayed Study II (hpo replay): statistics over its search seeds, the paper's claims,
    anytime curves with bands against epochs and simulated seconds, mean ranks."""
    seeds, workers = scores["search seed"].nunique(), study.tags.get("workers", "1")
    parts = [f"<h3>Replayed: {seeds} search seeds on the recorded table {escape(study.tags.get('table', ''))}</h3>",
             page.paragraph(
                 f"Not trained: every method ran through the same loop and budget ledger on results looked up in a "
                 f"table recorded by hpo record (study {study.tags.get('recorded_study', '-')}, commit "
                 f"{study.tags.get('recorded_git_commit', '-')[:12]}); a proposed configuration takes the curve of "
                 f"the nearest recorded one, and {workers} simulated worker(s) ran jobs on a clock of the recorded "
                 "seconds. Replay run: " + escape(study.run_id) + "."),
             *statistics_tables(w, scores, "Replayed: ",
                                ("replay_leaderboard", "replay_intervals", "replay_ranks", "replay_pairs",
                                 "replay_claims"))]
    row = []
    for dataset, part in curves.groupby("dataset", sort=False):
        for x, label, name in (("epochs", "epochs charged", "epochs"),
                               ("seconds", f"simulated seconds, {workers} simulated worker(s)", "seconds")):
            row.append(w.figure(figures.band_figure(part, dataset, x, label), f"replay_{dataset}_{name}",
                                f"{dataset}, replayed: mean best validation accuracy so far over the search seeds, "
                                f"with its 95 % interval, against {label}"))
    parts.append(page.row_html(row))
    parts.append(_rank_plot(w, scores, "replay_ranks", "Replayed: "))
    budget = int(tables.number(study.tags.get("budget_epochs")))
    epochs = np.arange(budget + 1)
    plot = pd.DataFrame([{"dataset": d, "method": m, "epochs charged": e, "mean best val_accuracy": round(v, 6)}
                         for (d, m), part in curves.groupby(["dataset", "method"], sort=False)
                         for e, v in zip(epochs, repetitions.mean_band(part, "epochs", epochs)[0], strict=True)
                         if np.isfinite(v)])
    plot.to_csv(w.out / REPLAY_PLOT, index=False, lineterminator="\n")
    parts.append(page.files_html([REPLAY_PLOT]))
    return "\n".join(parts)
