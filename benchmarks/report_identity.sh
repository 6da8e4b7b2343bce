#!/usr/bin/env bash
# Does a change leave the report unchanged? Builds a smoke store with the working tree's stages
# (prepare, importance, compare, subset; about 5 minutes on two cores), writes the report of it
# with the code of BASE (default HEAD, checked out in a temporary worktree) and with the working
# tree, and compares the two folders byte for byte. Exit 0 only if they are identical.
#   benchmarks/report_identity.sh [BASE]
set -euo pipefail
base=${1:-HEAD}
repo=$(git rev-parse --show-toplevel)
python=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add --detach -q "$work/base" "$base"
cd "$work"
export MLFLOW_TRACKING_URI="sqlite:///$work/mlflow.db" HPO_PREPARED_DIR="$work/prepared" \
       HPO_CHECKPOINT_DIR="$work/checkpoints"
unset HPO_TRACKING_WAIT MLFLOW_RUN_ID
for stage in prepare importance compare subset; do
  PYTHONPATH="$repo" "$python" -m hpo "$stage" --profile smoke --seed 0 > "$stage.log" 2>&1 ||
    { echo "report_identity: $stage failed, see its log:"; tail -n 20 "$stage.log"; exit 1; }
done
# Reports up to 89666ff read a trial's state from a `status` tag as well as from the run status;
# the stages no longer write it. Give every trial run that tag, equal to its status: later code
# ignores it, so both reports read the same state.
"$python" - <<'PY'
from mlflow.tracking import MlflowClient
client = MlflowClient()
for experiment in client.search_experiments():
    for run in client.search_runs([experiment.experiment_id], "tags.trial LIKE '%'", max_results=50000):
        client.set_tag(run.info.run_id, "status", run.info.status)
PY
PYTHONPATH="$work/base" "$python" -m hpo report --profile smoke --seed 0 --out before > /dev/null
PYTHONPATH="$repo" "$python" -m hpo report --profile smoke --seed 0 --out after > /dev/null
files=$(find before -type f | wc -l)
if diff -r before after > diff.txt; then
  echo "report_identity: the $files files of the report are identical at $base and in the working tree"
else
  echo "report_identity: the reports differ:"; head -n 40 diff.txt; exit 1
fi
