"""hpo.benchmark: the suite as an objective for any optimizer, on the smoke profile's recorded
table (and one live training); the Optuna and SMAC examples of docs/benchmark.md run as written."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hpo import recorded
from hpo.benchmark import Benchmark
from hpo.errors import UserError

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmark.md"


def _examples() -> dict[str, str]:
    """The page's Python blocks, by the heading above them."""
    blocks, heading = {}, "intro"
    for part in re.split(r"(^## .*$)", DOC.read_text(), flags=re.M):
        if part.startswith("## "):
            heading = part[3:].strip()
        for code in re.findall(r"```python\n(.*?)```", part, flags=re.S):
            blocks[heading] = code
    return blocks


def test_the_table_backend_gives_each_design_points_recorded_curve(smoke_table):
    bench = Benchmark("smoke", "digits", table=smoke_table)
    table = recorded.load(smoke_table)
    assert bench.fidelity == (1, table.provenance["epochs"]) and "learning_rate" in bench.space
    for point in table.points("digits"):
        for epochs in range(1, point.trained + 1):
            got = bench.evaluate(point.config, epochs=epochs)
            assert got["design_point"] == point.index and got["error"] is None
            assert got["val_accuracy"] == point.curves["val_accuracy"][epochs - 1]
            assert got["test_accuracy"] == point.curves["test_accuracy"][epochs - 1]
            assert got["seconds"] == pytest.approx(sum(point.curves["epoch_seconds"][:epochs]))
    fixed = {k: v for k, v in table.points("digits")[0].config.items() if k not in bench.fixed}
    assert bench.evaluate(fixed) == bench.evaluate(table.points("digits")[0].config)  # constants filled in


@pytest.mark.parametrize("call, message", [
    (lambda b: b.evaluate({"learning_rate": 0.01}), "the configuration lacks"),
    (lambda b: b.evaluate(b.table.points("digits")[0].config, epochs=0), "epochs must be an integer"),
    (lambda b: b.evaluate(b.table.points("digits")[0].config, epochs=10**6), "epochs must be an integer"),
])
def test_a_bad_request_is_one_line(smoke_table, call, message):
    with pytest.raises(UserError, match=message):
        call(Benchmark("smoke", "digits", table=smoke_table))


def test_a_wrong_table_backend_or_dataset_is_refused(smoke_table, tmp_path):
    with pytest.raises(UserError, match="backend 'gpu'"):
        Benchmark("smoke", "digits", table=smoke_table, backend="gpu")
    with pytest.raises(UserError, match="dataset 'cifar' is not in profile smoke"):
        Benchmark("smoke", "cifar", table=smoke_table)
    with pytest.raises(UserError, match="recorded table .* not found"):
        Benchmark("smoke", "digits", table=tmp_path / "none.json")
    with pytest.raises(UserError, match="recorded on profile smoke, not embedded"):
        Benchmark("embedded", "fashion", table=smoke_table)


@pytest.mark.parametrize("example", ["Optuna", "SMAC"])
def test_the_documented_examples_optimise_the_smoke_table(example, smoke_table, tmp_path):
    # In a process of its own, as a user runs it: SMAC sets up logging on the streams it finds
    script = tmp_path / "example.py"
    setup = f"from hpo.benchmark import Benchmark\nbench = Benchmark('smoke', 'digits', table={str(smoke_table)!r})\n"
    script.write_text(setup + _examples()[example])
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    best = float(done.stdout.split()[0])
    recorded_best = max(p.curves["val_accuracy"][-1] for p in recorded.load(smoke_table).points("digits"))
    assert 0 < best <= recorded_best  # a design point's accuracy, and no better than the best


def test_the_first_example_builds_on_the_default_table_path(smoke_table, tmp_path, monkeypatch):
    code = _examples()["intro"].replace('Benchmark("embedded", "fashion")', 'Benchmark("smoke", "digits")')
    code = code.replace("epochs=9", "epochs=2")  # the smoke profile trains up to 4
    (tmp_path / "recorded").mkdir()
    (tmp_path / "recorded" / "smoke-seed0.json").write_bytes(Path(smoke_table).read_bytes())
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/benchmark.md (intro)", "exec"), {})


@pytest.mark.slow
def test_the_live_backend_trains_with_the_studies_worker(smoke_prepared, client):
    bench = Benchmark("smoke", "digits", backend="live")
    config = {"learning_rate": 0.001, "dropout": 0.2, "optimizer": "adam", "fine_tuned_layers": 9}
    got = bench.evaluate(config, epochs=2, seed=3)
    assert got["error"] is None and 0 <= got["val_accuracy"] <= 1 and not math.isnan(got["test_accuracy"])
    run = client.get_run(got["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "benchmark"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1, 2]
    assert run.data.params["learning_rate"] == "0.001"


def test_the_surrogate_lookup_predicts_every_configuration(smoke_table):
    bench = Benchmark("smoke", "digits", table=smoke_table, lookup="surrogate")
    point = recorded.load(smoke_table).points("digits")[0]
    got = bench.evaluate(point.config)
    assert got["design_point"] == -1 and 0 <= got["val_accuracy"] <= 1 and got["error"] is None
    assert bench.evaluate(point.config) == got and bench.evaluate(point.config, seed=1) != got
    with pytest.raises(UserError, match="lookup 'knn'"):
        Benchmark("smoke", "digits", table=smoke_table, lookup="knn")
