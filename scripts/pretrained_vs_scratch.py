"""Does the profile's pretrained backbone beat the same network trained from scratch on its
targets? Trains both under the same small budget, for a few learning rates and seeds, as
`hpo train` runs (MLflow experiment `train`, tag `init`): from scratch the whole network (k = L),
pretrained fine-tuned at each depth of --pretrained-layers (default: the whole network too).
Prints mean and spread per (dataset, init, k, learning rate) and the best setting of each init.

    python scripts/pretrained_vs_scratch.py --profile embedded --seeds 0,1,2 --epochs 1,4,16

Every budget in --epochs is its own training, as `hpo train --epochs E` would run it.

Each seed is its own `prepare` (splits, pretraining and initial weights all follow the seed).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from hpo.errors import UserError
from hpo.profiles import load_profile
from hpo.studies.prepare import run_prepare
from hpo.studies.train import default_config, run_train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="embedded")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--datasets", default="all")
    parser.add_argument("--learning-rates", default="0.0003,0.001,0.003")
    parser.add_argument("--epochs", default="16", help="budgets to compare, e.g. 1,4,16")
    parser.add_argument("--pretrained-layers", default="all", help="k values for the pretrained backbone, e.g. 18,42")
    args = parser.parse_args()
    try:
        profile = load_profile(args.profile)
        seeds = [int(s) for s in args.seeds.split(",")]
        rates = [float(r) for r in args.learning_rates.split(",")]
        budgets = [int(e) for e in args.epochs.split(",")]
        datasets = [t.name for t in profile.datasets.targets] if args.datasets == "all" else args.datasets.split(",")
        n_layers = max(profile.space.initial.fine_tuned_layers)  # the whole backbone
        depths = {"scratch": [n_layers], "pretrained": [n_layers] if args.pretrained_layers == "all"
                  else [int(k) for k in args.pretrained_layers.split(",")]}
        results: dict[tuple, list[float]] = {}
        for seed in seeds:
            run_prepare(profile, seed)
            for dataset in datasets:
                for init, ks in depths.items():
                    for k in ks:
                        for rate in rates:
                            config = default_config(profile, learning_rate=rate, fine_tuned_layers=k)
                            for epochs in budgets:
                                result = run_train(profile, seed, dataset, config, epochs, init=init)
                                results.setdefault((epochs, dataset, init, k, rate), []).append(
                                    result.test_accuracy)
    except UserError as e:
        print(f"pretrained_vs_scratch: error: {e}", file=sys.stderr)
        return 2
    print(f"\ntest accuracy, seeds {seeds}")
    print("| epochs | dataset | init | k | learning rate | mean | min | max |\n|---|---|---|---|---|---|---|---|")
    for (epochs, dataset, init, k, rate), accs in sorted(results.items()):
        print(f"| {epochs} | {dataset} | {init} | {k} | {rate:g} | {statistics.mean(accs):.3f} | {min(accs):.3f} "
              f"| {max(accs):.3f} |")
    for epochs in budgets:
        for dataset in datasets:
            best = {init: max((statistics.mean(a), key) for key, a in results.items()
                              if key[:3] == (epochs, dataset, init))[1] for init in ("pretrained", "scratch")}
            pre, scr = results[best["pretrained"]], results[best["scratch"]]
            ahead = sum(p > s for p, s in zip(pre, scr, strict=True))  # paired: both lists run over the same seeds
            print(f"{epochs} epochs, {dataset}: best mean: pretrained {statistics.mean(pre):.3f} "
                  f"({min(pre):.3f}-{max(pre):.3f}; k {best['pretrained'][3]}, lr {best['pretrained'][4]:g}), "
                  f"scratch {statistics.mean(scr):.3f} ({min(scr):.3f}-{max(scr):.3f}; lr {best['scratch'][4]:g}), "
                  f"difference {statistics.mean(pre) - statistics.mean(scr):+.3f}, "
                  f"pretrained ahead on {ahead} of {len(pre)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
