"""`report`: every table and figure of the studies, from the tracking server alone.

For each stage (prepare, importance, compare, subset) it takes the latest FINISHED study run of
the profile (and seed) in any experiment, or the study run given by id, reads its children and
grandchildren by `tags.mlflow.parentRunId` with their metrics and histories, and writes to the
output folder: tables (Markdown, CSV, LaTeX), figures (PNG, SVG), `metrics.json` and
`index.html`. It reads no file another stage left on disk and creates no MLflow run: it is a
reader, and the same tracking data gives the same files. A stage without a study shows as
"not run". The parts live in hpo/report: `selection` chooses and loads the studies, `sections`
writes their tables, figures and HTML, `page` the page around them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hpo import tracking
from hpo.report import captions, page, repetitions, sections, tables
from hpo.report.queries import TrackingReader, reading
from hpo.report.selection import (
    Found,
    check_profile,
    find_repetitions,
    find_replay,
    find_studies,
    load_compare,
    load_importance,
    load_repetition,
    load_replay,
    load_subset,
    profile_name,
)
from hpo.studies.writable import check_folder

# Everything a report writes (a DVC output each; a second report replaces them, nothing else).
GENERATED = ["index.html", "metrics.json", "anytime.csv", sections.REPLAY_PLOT, "figures", sections.TABLES_DIR]


def _clean(out: Path) -> None:
    """Remove what an earlier report wrote, so nothing stale survives; leave other files."""
    for name in GENERATED:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def metrics_json(found: dict[str, Found], replay: tuple | None) -> dict:
    """The headline numbers; with a replayed study, its means over the search seeds and the
    verdicts on the paper's claims too."""
    metrics = tables.headline_metrics(found["compare"].run, found["subset"].run)
    return metrics if replay is None else metrics | repetitions.headline_metrics(replay[0])


def run_report(profile: str, seed: int | None = None, study_ids: list[str] | None = None,
               out: str | Path = "reports", uri: str | None = None) -> Path:
    """Write the report of `profile` (and `seed`; None: any) into `out`; returns index.html."""
    argument, profile = profile, profile_name(profile)
    out = Path(out)
    check_folder(out, "the report", "give another --out")
    reader = TrackingReader(uri)
    check_profile(reader, argument, profile)
    with reading(reader.uri):
        abandoned = tracking.runs_of_dead_processes(reader.uri)  # a reader: it says so, it ends none
        if abandoned:
            stages = sorted({r.data.tags.get("stage", "") for r in abandoned} - {""})
            print(f"note: {len(abandoned)} run(s) left RUNNING by processes of this machine that no longer run "
                  f"are passed over; rerun their stage ({', '.join(stages) or 'the one that made them'}) to "
                  "continue them", flush=True)
        found, profile, seed = find_studies(reader, profile, seed, study_ids or [])
        artifacts, repeated, repeated_subsets = {}, [], []
        if found["compare"].run:
            load_compare(reader, found["compare"].run)
            repeated = find_repetitions(reader, found["compare"].run)
            for study in repeated if len(repeated) > 1 else []:
                load_repetition(reader, study)
        if found["importance"].run:
            artifacts = load_importance(reader, found["importance"].run)
        replay_study = find_replay(reader, profile, seed)
        replay = load_replay(reader, replay_study) if replay_study else None
        if found["subset"].run:
            load_subset(reader, found["subset"].run)
            repeated_subsets = find_repetitions(reader, found["subset"].run)
            for study in repeated_subsets:
                if not study.children:
                    load_subset(reader, study)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)
    w = sections.Writer(out)
    parts = []
    for anchor, heading, stage, build in (
            ("study2", "Study II: comparison of HPO methods (compare)", "compare",
             lambda s: "\n".join(filter(None, [sections.compare(w, reader, s),
                                                 sections.repeated(w, repeated, repeated_subsets)]))),
            ("study1", "Study I: hyperparameter importance (importance)", "importance",
             lambda s: sections.importance(w, s, artifacts)),
            ("study3", "Study III: hyperparameters from a subset (subset)", "subset",
             lambda s: sections.subset(w, s))):
        f = found[stage]
        body = build(f.run) if f.run else page.not_run_html(f.how)
        if stage == "subset" and not f.run:
            body = f"<h3>{captions.TABLE7_TITLE}</h3>\n" + body
        parts.append((anchor, heading, body))
    if replay is not None:
        parts.append(("replay", "Study II replayed on a recorded table (replay)",
                      sections.replayed(w, replay_study, *replay)))
    parts.append(("runs", "MLflow runs", sections.runs(reader, found)))
    title = f"HPO benchmark report: profile {profile}" + ("" if seed is None else f", seed {seed}")
    index = out / "index.html"
    index.write_text(page.render(title, sections.intro(reader, profile, seed, found), parts))
    (out / "metrics.json").write_text(json.dumps(metrics_json(found, replay), indent=2, sort_keys=True) + "\n")
    for stage, f in found.items():
        state = f"{f.run.run_id} ({f.how})" if f.run else f"not run: {f.how}"
        print(f"report: {stage}: {state}")
    print(f"report: wrote {index}", flush=True)
    return index
