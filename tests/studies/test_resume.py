"""Studies survive a crash: `kill -9` (no handler runs) at given points, then the same command
again, continues the study and ends with the tables of an uninterrupted run.

Each stage runs twice in its own tracking store: once uninterrupted (the reference), once killed
with SIGKILL at several points (chained: the rerun after one kill is the run killed at the next
point; the last rerun goes to the end). Kill points are counted in trial runs in the store, not
in seconds. Slow: about 3 minutes in all on 2 cores."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

JOB_LINE = re.compile(r"^\[(?P<label>[^\]]+)\] trial (?P<trial>\d+)(?: rung \d+)? "
                      r"epochs (?P<start>\d+)->(?P<stop>\d+): .*\((?P<how>read back from the store|[\d.]+ s)\)$")


class Store:
    """One sqlite tracking store and checkpoint folder, and `hpo` commands run against them."""

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.uri = root, f"sqlite:///{root / 'mlflow.db'}"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_EXPERIMENT")},
                    "MLFLOW_TRACKING_URI": self.uri, "HPO_CHECKPOINT_DIR": str(root / "checkpoints"),
                    "PYTHONUNBUFFERED": "1"}
        self.logs: list[Path] = []
        # The schema now: polling a store that a starting study is creating races its migration
        MlflowClient(self.uri).search_experiments()

    def start(self, *args: str) -> subprocess.Popen:
        log = self.root / f"run-{len(self.logs)}.log"
        self.logs.append(log)
        return subprocess.Popen([sys.executable, "-m", "hpo", *args], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                env=self.env, cwd=self.root)

    def run(self, *args: str) -> str:
        proc = self.start(*args)
        assert proc.wait(timeout=900) == 0, self.logs[-1].read_text()[-3000:]
        return self.logs[-1].read_text()

    def runs(self) -> list:
        client = MlflowClient(self.uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        return client.search_runs(experiments, "", max_results=5000) if experiments else []

    def kill_when(self, proc: subprocess.Popen, condition, what: str) -> None:
        kill_when(proc, self.runs, condition, what, self.logs[-1])

    def jobs(self) -> tuple[list, list]:
        """(jobs trained, jobs read back) as every invocation printed them: (label, trial, start, stop)."""
        trained, recorded = [], []
        for log in self.logs:
            for line in log.read_text().splitlines():
                if m := JOB_LINE.match(line):
                    job = (m["label"], int(m["trial"]), int(m["start"]), int(m["stop"]))
                    (recorded if m["how"] == "read back from the store" else trained).append(job)
        return trained, recorded

    def retrained_epochs(self) -> dict[str, int]:
        """Per trial run, epochs logged more than once (a job cut short by a kill and trained again)."""
        client = MlflowClient(self.uri)
        out = {}
        for run in self.runs():
            if run.data.tags.get("trial") is not None:
                steps = Counter(m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy"))
                if extra := sum(n - 1 for n in steps.values()):
                    out[run.info.run_id] = extra
        return out


def kill_when(proc: subprocess.Popen, runs, condition, what: str, log: Path) -> None:
    """SIGKILL `proc` (its output in `log`) as soon as `condition(runs())` holds for the store."""
    deadline = time.monotonic() + 600
    while True:
        assert proc.poll() is None, f"the study ended before {what}: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"no {what} after 10 minutes"
        try:
            if condition(runs()):
                break
        except Exception:  # the store is being written: look again
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def trial_runs(runs, **tags):
    return [r for r in runs if r.data.tags.get("trial") is not None
            and all(r.data.tags.get(k) == v for k, v in tags.items())]


def table(output: str, title: str) -> str:
    """The Markdown table a stage prints at its end."""
    return output[output.index(title):].split("\n\n", 1)[1].strip()


def check_resumed(reference: Store, killed: Store, stage: str, title: str, kills: int) -> None:
    final = killed.logs[-1].read_text()
    assert table(final, title) == table(reference.logs[-1].read_text(), title)
    runs = killed.runs()
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert len([r for r in runs if r.data.tags.get("stage") == stage]) == 1  # one study run, reopened
    # every job of the uninterrupted run was trained once, or read back; none printed twice as trained
    expected, _ = reference.jobs()
    trained, recorded = killed.jobs()
    assert len(trained) == len(set(trained))
    assert set(trained) | set(recorded) == set(expected)
    assert recorded, "the reruns read nothing back"
    # only the jobs in flight at the kills trained any epoch twice
    retrained = killed.retrained_epochs()
    assert len(retrained) <= kills
    print(f"\n{stage}: {len(trained)} jobs trained, {len(recorded)} read back over {len(killed.logs)} runs; "
          f"epochs trained twice after {kills} kills: {sum(retrained.values())}")


@pytest.fixture
def stores(smoke_prepared, tmp_path):
    """A store for the uninterrupted run and one for the killed runs (the prepared data is shared)."""
    return Store(tmp_path / "reference"), Store(tmp_path / "killed")


def test_compare_killed_at_two_points_ends_with_the_uninterrupted_table(stores):
    reference, killed = stores
    command = ("compare", "--profile", "smoke", "--datasets", "digits")
    reference.run(*command)

    proc = killed.start(*command)  # in TPE's search: its rerun reads back grid, random and TPE's first trials
    killed.kill_when(proc, lambda runs: len(trial_runs(runs, method="tpe")) >= 2, "2 TPE trial runs")
    proc = killed.start(*command)
    killed.kill_when(proc, lambda runs: any(r.info.status == "RUNNING" and r.data.tags.get("rung") in ("1", "2")
                                            for r in trial_runs(runs, method="asha")), "ASHA promotion training")
    abandoned = [r for r in killed.runs() if r.info.status == "RUNNING"]
    assert any(r.data.tags.get("rung") in ("1", "2") for r in abandoned)  # killed while the promotion trained
    killed.run(*command)
    check_resumed(reference, killed, "compare", "Table 6 analogue", kills=2)
    assert not any((killed.root / "checkpoints").iterdir())  # a finished study keeps no checkpoints

    report = subprocess.run([sys.executable, "-m", "hpo", "report", "--profile", "smoke", "--out", "reports"],
                            capture_output=True, text=True, env=killed.env, cwd=killed.root, timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    with open(killed.root / "reports" / "tables" / "budget.csv") as f:
        for row in csv.DictReader(f):
            assert float(row["epochs charged"]) == float(row["epochs logged"])  # a retrained epoch counts once


def test_subset_killed_at_two_points_ends_with_the_uninterrupted_table(stores):
    reference, killed = stores
    command = ("subset", "--profile", "smoke", "--variants", "imbalanced_weighted")
    reference.run(*command)

    proc = killed.start(*command)
    killed.kill_when(proc, lambda runs: any(r.info.status == "RUNNING" and r.data.tags.get("rung") in ("1", "2")
                                            for r in trial_runs(runs, method="asha")), "ASHA promotion training")
    proc = killed.start(*command)
    killed.kill_when(proc, lambda runs: any(r.data.tags.get("final") for r in runs), "the final training")
    killed.run(*command)
    check_resumed(reference, killed, "subset", "Table 7 analogue", kills=2)
