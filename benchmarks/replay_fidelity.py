"""How far replay is from live: for the search seeds of live compares of one dataset, each
method's best validation accuracy and its configuration's test accuracy live, replayed with the
nearest lookup and replayed with the surrogate, and Kendall's tau between the methods' live and
replayed ranks per search seed.

    python -m benchmarks.replay_fidelity --profile embedded --dataset fashion \\
        --stores sqlite:///a/mlflow.db,sqlite:///b/mlflow.db [--table FILE]

The live side is every finished compare study of the profile and seed 0 in the stores (one per
search seed; the newest where a seed has several); the replayed side searches the same seeds on
the table (by default the one replay reads). Prints Markdown; nothing is written to a store.
"""

from __future__ import annotations

import argparse

import pandas as pd
from scipy.stats import kendalltau

from hpo import recorded
from hpo.profiles import load_profile
from hpo.report.queries import TrackingReader
from hpo.report.tables import markdown
from hpo.studies.record import default_table
from hpo.studies.replay import lookup_model, replay_search


def live_results(stores: list[str], profile: str, dataset: str, methods: list[str]) -> pd.DataFrame:
    rows = {}
    for uri in stores:
        reader = TrackingReader(uri)
        for study in sorted(reader.studies("compare", profile, 0), key=lambda s: s.start_time):
            if study.status != "FINISHED":
                continue
            search_seed = int(study.tags.get("search_seed", study.tags.get("seed", 0)))
            for child in reader.children(study):
                if child.tags.get("dataset") == dataset and child.tags.get("method") in methods:
                    rows[search_seed, child.tags["method"]] = (child.metrics["best_val_accuracy"],
                                                               child.metrics["best_test_accuracy"])
    return pd.DataFrame([(s, m, v, t) for (s, m), (v, t) in rows.items()],
                        columns=["search seed", "method", "val", "test"])


def replayed_results(profile, table: recorded.Table, dataset: str, methods: list[str], seeds: list[int],
                     lookup: str) -> pd.DataFrame:
    model = lookup_model(table, dataset, lookup)
    recorded_seed = int(table.provenance["seed"])
    rows = []
    for seed in seeds:
        for method in methods:
            result, _ = replay_search(profile, method, model.for_search(seed, recorded_seed), seed,
                                      profile.budget.epochs, 1)
            rows.append((seed, method, result.best_val, result.best_test))
    return pd.DataFrame(rows, columns=["search seed", "method", "val", "test"])


def rank_agreement(live: pd.DataFrame, replayed: pd.DataFrame, metric: str) -> list[float]:
    """Kendall's tau-b between the methods' live and replayed `metric`, one per search seed."""
    taus = []
    for seed, group in live.groupby("search seed"):
        other = replayed[replayed["search seed"] == seed].set_index("method")[metric]
        taus.append(kendalltau(group.set_index("method")[metric], other.loc[group["method"]]).statistic)
    return taus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="embedded")
    parser.add_argument("--dataset", default="fashion")
    parser.add_argument("--stores", required=True, help="comma-separated tracking URIs holding the live compares")
    parser.add_argument("--methods", default="grid,random,tpe,asha")
    parser.add_argument("--table", default=None)
    args = parser.parse_args(argv)
    profile, methods = load_profile(args.profile), args.methods.split(",")
    table = recorded.load(args.table or default_table(profile, 0))
    live = live_results(args.stores.split(","), profile.name, args.dataset, methods)
    seeds = sorted(live["search seed"].unique())
    if live.empty or len(live) != len(seeds) * len(methods):
        raise SystemExit(f"the stores hold no complete live compare of {args.dataset}: {len(live)} results")
    merged = live.rename(columns={"val": "live val", "test": "live test"})
    taus = {}
    for lookup in ("nearest", "surrogate"):
        replayed = replayed_results(profile, table, args.dataset, methods, seeds, lookup)
        merged = merged.merge(replayed.rename(columns={"val": f"{lookup} val", "test": f"{lookup} test"}),
                              on=["search seed", "method"])
        for metric in ("val", "test"):
            taus[lookup, metric] = rank_agreement(live, replayed, metric)
            merged[f"{lookup} {metric} error"] = (merged[f"{lookup} {metric}"] - merged[f"live {metric}"]).abs()
    print(f"{args.profile} {args.dataset}, search seeds {', '.join(map(str, seeds))}; table sha256 "
          f"{table.checksum[:12]}\n")
    print(markdown(merged.sort_values(["method", "search seed"]).round(4)))
    print("\nmean absolute difference from live, per method and lookup:\n")
    errors = merged.groupby("method")[[c for c in merged.columns if c.endswith("error")]].mean()
    print(markdown(errors.round(4).reset_index()))
    print("\nKendall's tau between the methods' live and replayed ranks (per search seed; mean):\n")
    for (lookup, metric), values in taus.items():
        shown = ", ".join("nan" if pd.isna(t) else f"{t:.2f}" for t in values)
        print(f"- {lookup}, best {metric}: {shown}; mean {pd.Series(values).mean():.2f}")


if __name__ == "__main__":
    main()
