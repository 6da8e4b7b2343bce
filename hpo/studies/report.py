"""`report`: every table and figure of the studies, from the tracking server alone.

For each stage (prepare, importance, compare, subset) it takes the latest FINISHED study run of
the profile (and seed) in any experiment, or the study run given by id, reads its children and
grandchildren by `tags.mlflow.parentRunId` with their metrics and histories, and writes to the
output folder: tables (Markdown, CSV, LaTeX), figures (PNG, SVG), `metrics.json` and
`index.html`. It reads no file another stage left on disk and creates no MLflow run: it is a
reader, and the same tracking data gives the same files. A stage without a study shows as
"not run".
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import pandas as pd

from hpo import tracking
from hpo.errors import UserError
from hpo.mlflow_ui import run_url
from hpo.report import figures, page, tables
from hpo.report.queries import CURVE_METRICS, STAGES, RunData, TrackingReader, reading

STUDY_STAGES = ("importance", "compare", "subset")  # stages whose study runs hold results
TABLES_DIR = "tables"
# Everything a report writes (a DVC output each; a second report replaces them, nothing else).
GENERATED = ["index.html", "metrics.json", "anytime.csv", "figures", TABLES_DIR]


@dataclass
class Found:
    """The study run chosen for one stage, or why there is none."""
    stage: str
    run: RunData | None
    how: str  # how it was chosen, or why nothing was
    passed_over: list[RunData] = field(default_factory=list)  # newer runs that did not finish


def profile_name(argument: str) -> str:
    """The `profile` tag to look for: the name itself, or the name inside a profile YAML file."""
    path = Path(argument)
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        from hpo.profiles import load_profile
        return load_profile(argument).name
    return argument


def _criteria(stage: str, profile: str, seed: int | None) -> str:
    return f"stage={stage}, profile={profile}" + ("" if seed is None else f", seed={seed}")


def find_studies(reader: TrackingReader, profile: str, seed: int | None,
                 study_ids: list[str]) -> tuple[dict[str, Found], str, int | None]:
    """The study of each stage: the run given by id for its stage; for the others the latest
    FINISHED one of the profile and seed (those of the given run, if one was given)."""
    given: dict[str, RunData] = {}
    for run_id in study_ids:
        run = reader.run(run_id)
        if run.stage not in STAGES:
            what = f"a {run.stage} run" if run.stage else "not a study run (it has no tag stage)"
            raise UserError(f"run {run_id} is {what}: give the id of a {', '.join(STAGES)} study run")
        if run.stage in given:
            raise UserError(f"runs {given[run.stage].run_id} and {run_id} are both {run.stage} studies: give one")
        given[run.stage] = run
    if given:
        first = next(iter(given.values()))
        profile = first.tags.get("profile", profile)
        seed = int(first.tags["seed"]) if first.tags.get("seed", "").isdigit() else seed
    found = {}
    for stage in STAGES:
        if stage in given:
            found[stage] = Found(stage, given[stage], "given by --study")
            continue
        runs = reader.studies(stage, profile, seed)
        finished = next((r for r in runs if r.status == "FINISHED"), None)
        newer = runs[:runs.index(finished)] if finished else runs
        where = _criteria(stage, profile, seed)
        if finished:
            found[stage] = Found(stage, finished, "latest FINISHED", newer)
        else:
            why = f"no FINISHED study run with {where} on {reader.uri}"
            if newer:
                why += " (" + ", ".join(f"{r.run_id} is {r.status}" for r in newer) + ")"
            found[stage] = Found(stage, None, why, newer)
    return found, profile, seed


def load_compare(reader: TrackingReader, study: RunData) -> None:
    """Method runs, their trials and each trial's val_accuracy history; every curve of each
    method's best trial."""
    study.children = reader.children(study)
    for method_run in study.children:
        method_run.children = reader.children(method_run)
        for trial in method_run.children:
            for key in ("val_accuracy", "epochs"):
                trial.histories[key] = reader.history(trial.run_id, key)
        best = tables.best_point(method_run)
        if best is not None:
            for key in CURVE_METRICS:
                if key not in best[0].histories:  # val_accuracy is already there
                    best[0].histories[key] = reader.history(best[0].run_id, key)


def load_importance(reader: TrackingReader, study: RunData) -> str | None:
    """Dataset runs and their trials; returns the text of the study's table5_pairs.csv artifact."""
    study.children = reader.children(study)
    for dataset_run in study.children:
        dataset_run.children = reader.children(dataset_run)
    return reader.artifact_text(study.run_id, "table5_pairs.csv")


def load_subset(reader: TrackingReader, study: RunData) -> None:
    study.children = reader.children(study)


def _clean(out: Path) -> None:
    """Remove what an earlier report wrote, so nothing stale survives; leave other files."""
    for name in GENERATED:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M") if ms else "-"


class _Writer:
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


def _compare_section(w: _Writer, reader: TrackingReader, study: RunData) -> str:
    parts = []
    t6 = tables.table6(study)
    if t6.empty:
        return page.not_run_html(f"the compare study {study.run_id} has no method runs")
    parts.append(w.table(t6, "table6", "Table 6 analogue: best validation accuracy per method (val) and the test "
                         "accuracy of that configuration (test); max difference between the methods' best val",
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


def _marginals(study: RunData) -> tuple[dict, str]:
    """fANOVA marginals recomputed from the trials' params and scores with the study's seed and
    its profile's initial space (fANOVA is deterministic given them). A label whose recomputed
    importances differ from the ones the study logged (its profile's space has changed since) is
    left out with a note."""
    from hpo.profiles import load_profile
    from hpo.report.importance import fanova_importances
    from hpo.space import config_space

    name = study.tags.get("profile", "")
    try:
        profile = load_profile(name)
    except UserError as e:
        return {}, f"marginal plots not drawn: {e}"
    space, seed = config_space(profile.space.initial), int(study.tags.get("seed", "0"))
    logged = dict(tables.importance_labels(study))
    results, problems = {}, []
    for label, trials in tables.importance_trials(study).items():
        if label not in logged:
            continue  # fANOVA did not run for it in the study either
        try:
            result = fanova_importances(space, [t.params for t in trials], [tables.final_score(t) for t in trials],
                                        seed=seed)
        except UserError as e:
            problems.append(f"{label} ({e})")
            continue
        again = dict(zip(result.individual["hyperparameter"], result.individual["importance"], strict=True))
        if any(abs(again.get(k[len("importance_"):], -1) - v) > 1e-6 for k, v in logged[label].metrics.items()
               if k.startswith("importance_") and not k.startswith("importance_std_")):
            problems.append(f"{label} (recomputed importances differ from the logged ones: profile {name} "
                            "has changed since the study ran)")
            continue
        results[label] = result
    return results, ("marginal plots not drawn for " + "; ".join(problems)) if problems else ""


def _importance_section(w: _Writer, study: RunData, pairs_csv: str | None) -> str:
    parts = []
    t4 = tables.importance_table(study)
    if len(t4.columns) > 1:
        parts.append(w.table(t4, "table4_importance", "Table 4 / A.8 analogue: fANOVA importance of each "
                             "hyperparameter (fraction of the variance of validation accuracy; std over the trees)"))
        parts.append(w.figure(figures.importance_figure(t4), "importance", "fANOVA importance per hyperparameter "
                              "and dataset, with one std over the forest's trees"))
    else:
        parts.append(page.note_html("fANOVA importances were not logged (see the study run's tags)."))
    t5 = tables.pairs_table(pairs_csv)
    if t5 is not None:
        parts.append(w.table(t5, "table5_pairs", "Table 5 analogue: the most important pairs of hyperparameters "
                             "(a pair's importance is its interaction alone)"))
    else:
        parts.append(page.note_html("Table 5: the study run has no table5_pairs.csv artifact."))
    results, note = _marginals(study)
    if note:
        parts.append(page.note_html(note))
    for label, result in results.items():
        parts.append(w.figure(figures.marginals_figure(result, label), f"marginals_{label.replace(' ', '_')}",
                              f"Fig. 3 analogue ({label}): predicted validation accuracy against each hyperparameter, "
                              "the others averaged out, with one std over the trees"))
    return "\n".join(parts)


def _subset_section(w: _Writer, study: RunData) -> str:
    t7 = tables.table7(study)
    if t7.empty:
        return page.not_run_html(f"the subset study {study.run_id} has no variant runs")
    return w.table(t7, "table7", "Table 7 analogue: the best configuration found on each subset variant and its test "
                   "accuracy when retrained on the whole training set", best=page.best_cells(t7, ["test accuracy"]))


def _provenance(reader: TrackingReader, found: dict[str, Found]) -> str:
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


def _runs_section(reader: TrackingReader, found: dict[str, Found]) -> str:
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


def _intro(reader: TrackingReader, profile: str, seed: int | None, found: dict[str, Found]) -> str:
    seed_text = "any seed" if seed is None else f"seed {seed}"
    return "\n".join([
        page.paragraph(f"Profile {profile}, {seed_text}. Everything on this page was read from the tracking store "
                       f"{reader.uri}: for each stage, the latest study run that FINISHED for this profile and seed "
                       "(runs still RUNNING, FAILED or KILLED are passed over), unless a study run was given with "
                       "--study. Run links open the MLflow UI at " + reader.ui_base()
                       + ("" if reader.ui_base() == reader.uri.rstrip("/") else " (where make ui serves this store)")
                       + "."),
        _provenance(reader, found)])


def metrics_json(found: dict[str, Found]) -> dict:
    return tables.headline_metrics(found["compare"].run, found["subset"].run)


def run_report(profile: str, seed: int | None = None, study_ids: list[str] | None = None,
               out: str | Path = "reports", uri: str | None = None) -> Path:
    """Write the report of `profile` (and `seed`; None: any) into `out`; returns index.html."""
    profile = profile_name(profile)
    reader = TrackingReader(uri)
    out = Path(out)
    with reading(reader.uri):
        ended = tracking.end_runs_of_dead_processes(reader.uri)  # so that none shows as running
        if ended:
            print(f"ended KILLED {ended} run(s) left RUNNING by processes of this machine that no longer run",
                  flush=True)
        found, profile, seed = find_studies(reader, profile, seed, study_ids or [])
        pairs_csv = None
        if found["compare"].run:
            load_compare(reader, found["compare"].run)
        if found["importance"].run:
            pairs_csv = load_importance(reader, found["importance"].run)
        if found["subset"].run:
            load_subset(reader, found["subset"].run)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    w = _Writer(out)
    sections = []
    for anchor, heading, stage, build in (
            ("study2", "Study II: comparison of HPO methods (compare)", "compare",
             lambda s: _compare_section(w, reader, s)),
            ("study1", "Study I: hyperparameter importance (importance)", "importance",
             lambda s: _importance_section(w, s, pairs_csv)),
            ("study3", "Study III: hyperparameters from a subset (subset)", "subset",
             lambda s: _subset_section(w, s))):
        f = found[stage]
        body = build(f.run) if f.run else page.not_run_html(f.how)
        if stage == "subset" and not f.run:
            body = "<h3>Table 7 analogue</h3>\n" + body
        sections.append((anchor, heading, body))
    sections.append(("runs", "MLflow runs", _runs_section(reader, found)))
    title = f"HPO benchmark report: profile {profile}" + ("" if seed is None else f", seed {seed}")
    index = out / "index.html"
    index.write_text(page.render(title, _intro(reader, profile, seed, found), sections))
    (out / "metrics.json").write_text(json.dumps(metrics_json(found), indent=2, sort_keys=True) + "\n")
    for stage, f in found.items():
        state = f"{f.run.run_id} ({f.how})" if f.run else f"not run: {f.how}"
        print(f"report: {stage}: {state}")
    print(f"report: wrote {index}", flush=True)
    return index
