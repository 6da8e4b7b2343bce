#!/usr/bin/env bash
# Does a change leave a study's numbers unchanged, and how does it change its wall time? Runs
# `hpo STAGE ARGS` (default: compare, Study II) with the code of BASE (checked out in a temporary
# worktree) and with the working tree, one after the other on the same prepared data, each into a
# store of its own; prints both wall times and each run's "STAGE took" line (compare's says how
# much was outside Keras' training epochs); then compares the tables the stage prints and every
# trial run's metric history (variant, dataset, method, trial, metric, step, value; timings
# excluded) of the two stores. Exit 0 only if they are identical.
#   benchmarks/compare_identity.sh BASE [STAGE] [options]   (default: compare --profile smoke)
#   benchmarks/compare_identity.sh 6d364b6 --profile embedded --datasets fashion   (about 40 min)
#   benchmarks/compare_identity.sh HEAD subset   (Study III; importance: Study I)
# HPO_PREPARED_DIR: prepared data to use (else `hpo prepare` runs first, with the working tree).
set -euo pipefail
base=${1:?usage: compare_identity.sh BASE [STAGE] [options]}
shift
stage=compare
case ${1:-} in importance | compare | subset) stage=$1; shift ;; esac
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--profile smoke)
profile=smoke
for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[$i]}" = --profile ] && profile=${args[$((i + 1))]}; done
repo=$(git rev-parse --show-toplevel)
python=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add --detach -q "$work/base" "$base"
unset MLFLOW_RUN_ID HPO_TRACKING_WAIT
export HPO_PREPARED_DIR=${HPO_PREPARED_DIR:-$work/prepared}
if [ ! -f "$HPO_PREPARED_DIR/$profile-seed0/manifest.json" ]; then
  (cd "$work" && PYTHONPATH="$repo" MLFLOW_TRACKING_URI="sqlite:///$work/prepare.db" \
    "$python" -m hpo prepare --profile "$profile" --seed 0 > prepare.log 2>&1) ||
    { echo "compare_identity: prepare failed, see its log:"; tail -n 20 "$work/prepare.log"; exit 1; }
fi
for side in base tree; do
  code=$repo; [ $side = base ] && code=$work/base
  out=$work/run-$side
  mkdir -p "$out"
  started=$(date +%s.%N)
  (cd "$out" && PYTHONPATH="$code" MLFLOW_TRACKING_URI="sqlite:///$out/mlflow.db" \
    HPO_CHECKPOINT_DIR="$out/checkpoints" "$python" -m hpo "$stage" "${args[@]}" --seed 0 > stage.log 2>&1) ||
    { echo "compare_identity: $stage ($side) failed, see its log:"; tail -n 20 "$out/stage.log"; exit 1; }
  wall=$(awk "BEGIN { print $(date +%s.%N) - $started }")
  label=$base; [ $side = tree ] && label="working tree"
  printf 'compare_identity: %-14s %7.1f s  %s\n' "$label" "$wall" "$(grep -m1 "^$stage took" "$out/stage.log")"
  MLFLOW_TRACKING_URI="sqlite:///$out/mlflow.db" "$python" - > "$out/numbers.csv" <<'PY'
from mlflow.tracking import MlflowClient

client = MlflowClient()
rows = []
for experiment in client.search_experiments():
    for run in client.search_runs([experiment.experiment_id], "tags.trial LIKE '%'", max_results=50000):
        tags = run.data.tags
        for key in sorted(run.data.metrics):
            if key.endswith("seconds"):
                continue
            for m in client.get_metric_history(run.info.run_id, key):
                rows.append((tags.get("variant", ""), tags.get("dataset", ""), tags.get("method", ""),
                             int(tags["trial"]), key, m.step, repr(m.value)))
print("variant,dataset,method,trial,metric,step,value")
for row in sorted(rows):
    print(",".join(map(str, row)))
PY
  sed -n "/^$stage took/,\$p" "$out/stage.log" | grep '^|' >> "$out/numbers.csv"  # the tables printed last
done
values=$(($(grep -vc '^|' "$work/run-tree/numbers.csv") - 1))  # less the header; tables' rows start with |
if diff "$work/run-base/numbers.csv" "$work/run-tree/numbers.csv" > "$work/diff.txt"; then
  echo "compare_identity: $stage's tables and the $values logged values of every trial are identical at $base and in the working tree"
else
  echo "compare_identity: the numbers differ:"; head -n 40 "$work/diff.txt"; exit 1
fi
