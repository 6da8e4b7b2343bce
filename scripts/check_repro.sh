#!/usr/bin/env bash
# The DVC pipeline from a clean clone, on the profile of params.yaml (smoke): `dvc repro` runs
# every stage (the recorded table and its replay included); a second `dvc repro` runs none; changing one replay parameter reruns replay and
# report only (the cheapest stages that depend on a parameter: what is checked is that nothing else reruns); `dvc metrics show` prints a number for every method. Also: filling data/ leaves
# data.dvc unchanged, and a changed raw file shows as modified. Uses the environment of
# `make setup` (.venv); runs in a temporary folder and leaves nothing behind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$root/.venv/bin:$PATH"
unset MLFLOW_TRACKING_URI HPO_PREPARED_DIR MLFLOW_RUN_ID
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/repo"
cd "$work/repo"
fail() { echo "check_repro: FAILED: $*" >&2; exit 1; }
ran() { grep -o "Running stage '[a-z]*'" "$1" | sed "s/Running stage '\(.*\)'/\1/" | sort | tr '\n' ' '; }

python -m hpo.data.raw data >/dev/null  # what `make data` does, with this environment
dvc commit -q -f data.dvc
git diff --quiet -- data.dvc || fail "data.dvc differs after filling data/"
dvc status data.dvc | grep -q "up to date" || fail "dvc status: data.dvc is not up to date after filling data/"
cp data/digits/digits-labels-idx1-ubyte "$work/labels"
printf 'x' >> data/digits/digits-labels-idx1-ubyte
dvc status data.dvc | grep -q "modified" || fail "a changed raw file is not reported as modified"
cp "$work/labels" data/digits/digits-labels-idx1-ubyte

start=$(date +%s)
dvc repro > "$work/first.log" 2>&1 || { tail -40 "$work/first.log"; fail "dvc repro"; }
echo "check_repro: dvc repro ran: $(ran "$work/first.log")in $(( $(date +%s) - start )) s"
[ "$(ran "$work/first.log")" = "compare importance prepare record replay report subset " ] || fail "not every stage ran"
python - <<'PY' || fail "reports/metrics.json lacks a number for some method"
import json, math
every = json.load(open("reports/metrics.json"))
assert set(every["replay"]) == {"fashion", "digits"}, sorted(every["replay"])
metrics = every["compare"]
assert metrics, "no compare results"
for dataset, methods in metrics.items():
    assert set(methods) == {"grid", "random", "tpe", "asha"}, (dataset, sorted(methods))
    for method, values in methods.items():
        value = values["best_val_accuracy"]
        assert isinstance(value, float) and math.isfinite(value), (dataset, method, value)
print("check_repro: metrics.json has a best_val_accuracy for", ", ".join(
    f"{d}/{m}" for d, ms in sorted(metrics.items()) for m in sorted(ms)))
PY

dvc repro > "$work/second.log" 2>&1 || fail "second dvc repro"
[ -z "$(ran "$work/second.log")" ] || fail "a second dvc repro ran: $(ran "$work/second.log")"
echo "check_repro: a second dvc repro ran no stage"

sed -i 's/^  repetitions: 20 /  repetitions: 10 /' params.yaml
grep -q '^  repetitions: 10 ' params.yaml || fail "could not change replay.repetitions in params.yaml"
dvc repro > "$work/third.log" 2>&1 || { tail -40 "$work/third.log"; fail "dvc repro after a parameter change"; }
[ "$(ran "$work/third.log")" = "replay report " ] || fail "changing replay.repetitions ran: $(ran "$work/third.log")"
echo "check_repro: changing replay.repetitions reran: $(ran "$work/third.log")"

dvc metrics show | tee "$work/metrics.txt" | head -3
grep -q "compare.fashion.asha.best_val_accuracy" "$work/metrics.txt" || fail "dvc metrics show"
echo "check_repro: passed in $(( $(date +%s) - start )) s"
