"""Which study runs a report shows, and their run trees read from the tracking store: for each
stage the study run given by id, or the latest FINISHED one of the profile (and seed) in any
experiment; then its children and grandchildren with the metric histories the tables and figures
need."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hpo.errors import UserError
from hpo.report import tables
from hpo.report.importance import MARGINALS_FILE
from hpo.report.queries import CURVE_METRICS, STAGES, RunData, TrackingReader

PAIRS_FILE = "table5_pairs.csv"
IMPORTANCE_ARTIFACTS = (PAIRS_FILE, MARGINALS_FILE)


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


def check_profile(reader: TrackingReader, argument: str, name: str) -> None:
    """A profile named, not given as a file, is a bundled profile or one the store's runs carry."""
    from hpo.profiles import available_profiles

    if name != argument or name in available_profiles() or reader.has_profile(name):
        return
    raise UserError(f"unknown profile {name!r}: no profile file of that name ({', '.join(available_profiles())}) and "
                    f"no run in {reader.uri} has it: give a profile's name or the path of its YAML file")


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


def load_importance(reader: TrackingReader, study: RunData) -> dict[str, str | None]:
    """Dataset runs and their trials; returns the study's artifacts the report shows (Table 5 and
    the marginals of Fig. 3) by name, None where absent."""
    study.children = reader.children(study)
    for dataset_run in study.children:
        dataset_run.children = reader.children(dataset_run)
    return {name: reader.artifact_text(study.run_id, name) for name in IMPORTANCE_ARTIFACTS}


def load_subset(reader: TrackingReader, study: RunData) -> None:
    study.children = reader.children(study)


SAME_STUDY = ("data_checksum", "datasets", "methods", "variants", "budget_epochs")  # what repetitions share


def find_repetitions(reader: TrackingReader, study: RunData) -> list[RunData]:
    """The repetitions of `study` (hpo.studies.searching.Repetition): the FINISHED studies of its
    stage, profile and seed with its data and parameters, the latest of each search seed, in
    search-seed order (`study` itself among them)."""
    from hpo.report.repetitions import search_seed

    chosen = {search_seed(study): study}  # even if a newer study of its search seed exists (given by --study)
    for run in reader.studies(study.stage, study.tags.get("profile", ""), int(study.tags.get("seed") or 0)):
        if run.status == "FINISHED" and all(run.tags.get(k) == study.tags.get(k) for k in SAME_STUDY):
            chosen.setdefault(search_seed(run), run)
    return [chosen[s] for s in sorted(chosen)]


def load_repetition(reader: TrackingReader, study: RunData) -> None:
    """A compare repetition's method runs and trials with what repetitions.choices reads."""
    if not study.children:
        study.children = reader.children(study)
    for method_run in study.children:
        if not method_run.children:
            method_run.children = reader.children(method_run)
        for trial in method_run.children:
            for key in ("val_accuracy", "epochs", "test_accuracy"):
                if key not in trial.histories:
                    trial.histories[key] = reader.history(trial.run_id, key)


REPLAY_ARTIFACTS = ("replay/scores.csv", "replay/curves.csv")


def find_replay(reader: TrackingReader, profile: str, seed: int | None) -> RunData | None:
    """The newest FINISHED replay study of the profile (and seed)."""
    return next((r for r in reader.studies("replay", profile, seed) if r.status == "FINISHED"), None)


def load_replay(reader: TrackingReader, study: RunData) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Its scores and curves (hpo.studies.replay), None where an artifact is missing."""
    texts = [reader.artifact_text(study.run_id, name) for name in REPLAY_ARTIFACTS]
    if any(t is None for t in texts):
        return None
    return tuple(pd.read_csv(io.StringIO(t)) for t in texts)
