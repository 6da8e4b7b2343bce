"""`replay`: Study II over many search seeds in seconds. Every method runs through the same
loop, with the same method classes and budget ledger as `compare`, on the replay driver
(hpo/executor/replay.py), which looks results up in a recorded table (hpo record) on a
simulated clock with N simulated workers.

One study run (stage `replay`, tag `replayed`) -> one child per (dataset, method) with the means
over the seeds. Its artifacts hold every number the report's replay section reads:
`replay/scores.csv` (each seed's best validation accuracy and the chosen configuration's test
accuracy at 25/50/100 % of the budget, as hpo/report/repetitions.py makes them for live
repetitions) and `replay/curves.csv` (the anytime curve of every seed against charged epochs
and simulated seconds).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from hpo import recorded, tracking
from hpo.budget import Budget
from hpo.data.prepared import prepared_dir, read_manifest
from hpo.errors import UserError
from hpo.executor.replay import ReplayDriver
from hpo.jobs import best_job
from hpo.report import repetitions, tables
from hpo.search import registry
from hpo.search.loop import SearchResult, run_search
from hpo.space import config_space, constants
from hpo.studies.searching import check_request

CURVE_COLUMNS = ["search seed", "dataset", "method", "job", "epochs", "seconds", "val", "test"]


def check_table(table: recorded.Table, profile, datasets: list[str]) -> None:
    """The table must have been recorded with this profile (its settings, its prepared data), long
    enough for its methods."""
    if not isinstance(table.provenance, dict) or not isinstance(table.space, dict):
        raise UserError("the recorded table is not one hpo record wrote (its provenance or space is not a mapping): "
                        "record it again")
    if table.provenance.get("profile") != profile.name:
        raise UserError(f"the recorded table was recorded on profile {table.provenance.get('profile')}, not "
                        f"{profile.name}: give --profile {table.provenance.get('profile')}")
    _check_profile_version(table, profile)
    _check_data(table, profile)
    if table.space != profile.space.applied.model_dump(mode="json"):
        raise UserError(f"profile {profile.name}'s applied space has changed since the table was recorded: "
                        f"record it again (hpo record --profile {profile.name})")
    if table.provenance.get("epochs", 0) < recorded.epochs(profile):
        raise UserError(f"the table's curves have {table.provenance.get('epochs')} epochs; profile {profile.name} "
                        f"trains up to {recorded.epochs(profile)}: record it again")
    for dataset in datasets:
        if not any(recorded.usable(p) > 0 for p in table.points(dataset)):
            raise UserError(f"every design point of {dataset} in the recorded table failed before its first epoch: "
                            f"nothing to replay; fix the cause (the table lists it per point), then record it again")


def _check_profile_version(table: recorded.Table, profile) -> None:
    """The profile's checksum against the one the table was recorded under; where they differ,
    the settings (a change of comments or layout alone passes)."""
    again = (f"record it again (hpo record --profile {profile.argument}), or replay with the profile file it was "
             "recorded with")
    checksum = table.provenance.get("profile_checksum")
    if checksum == profile.checksum:
        return
    settings = table.provenance.get("profile_settings")
    if not isinstance(settings, dict):
        raise UserError(f"the recorded table was recorded under another version of profile {profile.name} (checksum "
                        f"{str(checksum)[:12]}, now {profile.checksum[:12]}; the table does not list its settings): "
                        f"{again}")
    changed = recorded.differences(settings, recorded.profile_settings(profile))
    if changed:
        shown = "; ".join(changed[:4]) + (f"; {len(changed) - 4} more" if len(changed) > 4 else "")
        raise UserError(f"the recorded table was recorded under another version of profile {profile.name} "
                        f"({shown[:600]}): {again}")


def _check_data(table: recorded.Table, profile) -> None:
    """Where this profile's data is prepared with the table's seed, it must be the data the table was
    recorded on."""
    seed, data = table.provenance.get("seed"), table.provenance.get("data_checksum")
    if not isinstance(seed, int) or isinstance(seed, bool) or not isinstance(data, str):
        raise UserError("the recorded table is not one hpo record wrote (its provenance lacks the seed or the data "
                        "checksum): record it again")
    try:
        manifest = read_manifest(prepared_dir(profile.name, seed))
    except UserError:  # damaged: replay does not read it, and prepare says so where it matters
        return
    if manifest and manifest.get("profile_checksum") == profile.prepare_checksum \
            and manifest.get("data_checksum") != data:
        raise UserError(f"the recorded table was recorded on other data than profile {profile.name}'s, prepared with "
                        f"seed {seed} in {prepared_dir(profile.name, seed)} (data checksum {data[:12]}, prepared "
                        f"{str(manifest.get('data_checksum'))[:12]}): record it again (hpo record --profile "
                        f"{profile.argument} --seed {seed})")


def replay_search(profile, method: str, lookup: Callable[[dict], recorded.Point], search_seed: int, budget: int,
                  workers: int) -> tuple[SearchResult, list[float]]:
    """One method's search on a dataset's design points (`lookup`: recorded.Nearest, or its
    lookup for the search seed); the simulated end time of each of its jobs."""
    policy = registry.entry(method).build(profile, search_seed, constants(config_space(profile.space.applied)))
    driver = ReplayDriver(lookup, workers)
    return run_search(policy, Budget(budget), driver, progress=None), driver.ended_at


def anytime(result: SearchResult, ended_at: list[float]) -> list[tuple[int, float, float, float]]:
    """(epochs charged, simulated seconds, best validation accuracy, its test accuracy) after
    each job, the best chosen by the loop's rule (jobs.best_job)."""
    rows, charged, best = [], 0, (math.nan, math.nan)
    for (_, outcome), seconds in zip(result.jobs, ended_at, strict=True):
        charged += outcome.epochs_trained
        score = math.nan if outcome.error else outcome.score
        found = best_job([(best[0], best), (score, (score, outcome.test_accuracy))])  # a tie keeps the first
        best = found[1] if found else best
        rows.append((charged, seconds, *best))
    return rows


def _seed_range(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ",".join(map(str, seeds))


LOOKUPS = ("nearest", "surrogate")


def lookup_model(table: recorded.Table, dataset: str, lookup: str):
    """The dataset's lookup by name: recorded.Nearest or the table's surrogate (hpo/surrogate.py)."""
    if lookup == "nearest":
        return recorded.Nearest(table.points(dataset), table.space)
    from hpo.surrogate import Surrogate

    return Surrogate(table.points(dataset), table.space, int(table.provenance["epochs"]),
                     seed=int(table.provenance["seed"]))


def _lookup_model(table: recorded.Table, dataset: str, lookup: str):
    """The dataset's lookup; a surrogate says (and logs) its error on configurations it never saw."""
    model = lookup_model(table, dataset, lookup)
    if lookup == "nearest":
        return model
    error = model.cross_validated_error()
    tracking.log_metrics({f"surrogate_{k}_{dataset}": v for k, v in error.items()})
    print(f"surrogate of {dataset}: mean absolute error on held-out configurations: validation accuracy "
          f"{error['val_mae']:.4f} over all epochs, {error['val_mae_at_R']:.4f} at the last; test accuracy "
          f"{error['test_mae_at_R']:.4f} at the last; seconds per epoch {error['seconds_mae']:.3f}", flush=True)
    return model


def run_replay(profile, seed: int, search_seeds: list[int], table_file: str | Path | None = None,
               datasets: list[str] | None = None, methods: list[str] | None = None, budget: int | None = None,
               workers: int = 1, lookup: str = "nearest") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replay every method for every search seed on the table recorded for `profile` and `seed`
    (default recorded/<profile>-seed<seed>.json); `lookup`: nearest (a design point's curve) or
    surrogate (hpo/surrogate.py); returns (scores, curves)."""
    from hpo.studies.record import default_table

    if lookup not in LOOKUPS:
        raise UserError(f"--lookup {lookup!r}: use one of {', '.join(LOOKUPS)}")

    table_file = Path(table_file) if table_file else default_table(profile, seed)
    table = recorded.load(table_file)
    datasets = datasets or list(table.datasets)
    methods = registry.resolve(methods, profile)
    budget = budget or profile.budget.epochs
    check_request(profile, datasets, methods, budget)
    check_table(table, profile, datasets)
    recorded_seed = int(table.provenance["seed"])
    key = tracking.study_key("replay", profile, recorded_seed, table.provenance["data_checksum"],
                             table=table.checksum, search_seeds=search_seeds, datasets=datasets, methods=methods,
                             budget=budget, workers=workers, **({} if lookup == "nearest" else {"lookup": lookup}))
    tags = {**tracking.provenance_tags("replay", profile, recorded_seed, table.provenance["data_checksum"]),
            "study": f"replay-{profile.name}-seed{recorded_seed}", "replayed": "true", "table": str(table_file),
            "table_checksum": table.checksum, "recorded_git_commit": table.provenance.get("git_commit", ""),
            "recorded_study": table.provenance.get("study_run_id", ""), "search_seeds": _seed_range(search_seeds),
            "datasets": ",".join(datasets), "methods": ",".join(methods), "budget_epochs": str(budget),
            "workers": str(workers), "lookup": lookup}
    started = time.perf_counter()
    score_rows, curve_rows = [], []
    run_name = f"replay {profile.name} seed {recorded_seed} ({len(search_seeds)} search seeds, {workers} workers)"
    with tracking.study_run("replay", run_name, tags, key, restart=True):
        for dataset in datasets:
            model = _lookup_model(table, dataset, lookup)
            for method in methods:
                results = []
                for search_seed in search_seeds:
                    result, ended_at = replay_search(profile, method, model.for_search(search_seed, recorded_seed),
                                                     search_seed, budget, workers)
                    curve = anytime(result, ended_at)
                    results.append(result)
                    ends = [(charged, val, test) for charged, _, val, test in curve]  # the best so far, each end
                    for share, (val, test) in repetitions.best_at_shares(ends, budget).items():
                        score_rows.append({"search seed": search_seed, "dataset": dataset, "method": method,
                                           "share": share, "val": val, "test": test})
                    curve_rows += [(search_seed, dataset, method, i, *row) for i, row in enumerate(curve)]
                with tracking.child_run(f"{method} {dataset} (replayed)",
                                        {"method": method, "dataset": dataset, "replayed": "true"}):
                    n = len(results)
                    tracking.log_metrics({
                        "seeds": n, "budget_used_epochs": sum(r.budget_used for r in results) / n,
                        "n_trials": sum(len(r.trials) for r in results) / n,
                        "best_val_accuracy": sum(r.best_val for r in results) / n,
                        "best_test_accuracy": sum(r.best_test for r in results) / n})
        scores = pd.DataFrame(score_rows, columns=["search seed", "dataset", "method", "share", "val", "test"])
        curves = pd.DataFrame(curve_rows, columns=CURVE_COLUMNS)
        tracking.log_text(scores.to_csv(index=False), "replay/scores.csv")
        tracking.log_text(curves.to_csv(index=False), "replay/curves.csv")
        intervals = repetitions.intervals_table(scores)
        claims = repetitions.claims_table(scores)
        tracking.log_text(tables.markdown(intervals) + "\n", "replay/intervals.md")
        tracking.log_text(tables.markdown(claims) + "\n", "replay/claims.md")
        wall = time.perf_counter() - started
        tracking.log_metrics({"wall_seconds": wall, "seeds_per_second": len(search_seeds) / wall})
    print(f"replay took {wall:.1f} s: {len(search_seeds)} search seeds x {len(methods)} methods x {len(datasets)} "
          f"datasets on table {table_file} ({workers} simulated workers)\n")
    print(tables.markdown(intervals[intervals["budget share"] == 1.0]) + "\n")
    print(tables.markdown(claims), flush=True)
    return scores, curves
