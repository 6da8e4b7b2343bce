"""Studies on a Dask cluster: `hpo compare --workers 2` (a LocalCluster) logging to the PostgreSQL-
backed `mlflow server` of scripts/server.sh, and rerun: every job read back; a worker killed with
SIGKILL mid-trial; the stage killed twice while TPE and ASHA have jobs in flight (its workers go
with it), resumed on its record of events with 2 workers, then 1; a worker that cannot read the
data, behind `--scheduler`. Real processes, real training on smoke."""

from __future__ import annotations

import csv
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from hpo.executor.trials import recorded_events
from hpo.search.asha import milestones
from hpo.search.events import TELL
from tests.studies.test_resume import JOB_LINE, kill_when, table

pytestmark = pytest.mark.slow


class Study:
    """`hpo compare` commands in their own folder, against a tracking store other tests share:
    `runs()` are the newest compare study run started since, and the runs under it."""

    def __init__(self, root: Path, uri: str):
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.uri, self.log = root, uri, root / "hpo.log"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_EXPERIMENT")},
                    "MLFLOW_TRACKING_URI": uri, "HPO_CHECKPOINT_DIR": str(root / "checkpoints"),
                    # each epoch written as it ends: the tests catch jobs part-way through
                    "HPO_EPOCH_LOG_SECONDS": "0", "PYTHONUNBUFFERED": "1"}
        self.client = MlflowClient(uri)
        self.client.search_experiments()  # the schema now: polling a store a starting study creates races it
        self.since = int(time.time() * 1000)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "hpo", *args], stdout=open(self.log, "a"),
                                stderr=subprocess.STDOUT, env=self.env, cwd=self.root)

    def run(self, *args: str) -> str:
        assert self.start(*args).wait(timeout=900) == 0, self.log.read_text()[-3000:]
        return self.log.read_text()

    def runs(self) -> list:
        experiment = self.client.get_experiment_by_name("compare")
        if experiment is None:
            return []
        every = self.client.search_runs([experiment.experiment_id], f"attributes.start_time >= {self.since}",
                                        max_results=5000)
        studies = [r for r in every if r.data.tags.get("stage") == "compare"]
        if not studies:
            return []
        ours, found = {max(studies, key=lambda r: r.info.start_time).info.run_id}, True
        while found:  # the study run, its method runs, their trial runs
            found = {r.info.run_id for r in every if r.data.tags.get("mlflow.parentRunId") in ours} - ours
            ours |= found
        return [r for r in every if r.info.run_id in ours]

    def steps(self, run) -> list[int]:
        return sorted(m.step for m in self.client.get_metric_history(run.info.run_id, "val_accuracy"))

    def kill_when(self, proc: subprocess.Popen, condition, what: str) -> None:
        kill_when(proc, self.runs, condition, what, self.log)

    def told(self) -> dict[str, list[tuple[int, int, int]]]:
        """Per method, the results its record in the store says were told, in order."""
        runs = self.runs()
        return {m.data.tags["method"]: [(e.trial, e.start, e.stop) for e in recorded_events(
                    [m.data.tags, *(r.data.tags for r in trials(runs, method=m.data.tags["method"]))])
                    if e.kind == TELL]
                for m in runs if "method" in m.data.tags and "trial" not in m.data.tags}

    def trained(self) -> list[tuple[str, int, int, int]]:
        """The jobs every run of the stage printed as trained (not read back), in order."""
        return [(m["label"], int(m["trial"]), int(m["start"]), int(m["stop"]))
                for m in map(JOB_LINE.match, self.log.read_text().splitlines())
                if m and m["how"] != "read back from the store"]


def trials(runs, **tags) -> list:
    return [r for r in runs if "trial" in r.data.tags and all(r.data.tags.get(k) == v for k, v in tags.items())]


def methods(runs) -> list:
    return [r for r in runs if "budget_used_epochs" in r.data.metrics]


def test_compare_on_two_workers_logs_to_the_postgresql_server(smoke_prepared, tracking_server, tmp_path):
    profile, _ = smoke_prepared
    study = Study(tmp_path, tracking_server)
    command = ("compare", "--profile", "smoke", "--datasets", "digits", "--methods", "tpe,asha", "--workers", "2")
    output = study.run(*command, "--restart")
    runs = study.runs()
    assert not [r for r in runs if r.info.status == "RUNNING"]
    budget = profile.budget.epochs
    assert sorted(r.data.tags["method"] for r in methods(runs)) == ["asha", "tpe"]
    workers = set()
    for method in methods(runs):
        tags = method.data.tags
        its = trials(runs, method=tags["method"], dataset=tags["dataset"])
        logged = 0
        for trial in its:
            stop = int(trial.data.metrics["epochs"])
            assert study.steps(trial) == list(range(1, stop + 1)), trial.info.run_name  # each epoch once
            logged += stop
            workers.add(trial.data.tags["worker"])
        assert method.data.metrics["budget_used_epochs"] == logged <= budget
        assert tags["workers"] == "2"
        order = study.client.download_artifacts(method.info.run_id, "told_order.csv", str(tmp_path))
        assert len(list(csv.DictReader(open(order)))) >= len(its)  # every job, in the order it was told
        if tags["method"] == "asha":
            top = milestones(profile.asha.r, profile.asha.R, profile.asha.eta, profile.asha.s)[-1]
            assert sum(t.data.metrics["epochs"] == top for t in its) <= profile.asha.max_trials_at_R
    assert len(workers) == 2, workers  # both worker processes trained
    assert "of its 2 workers' time outside Keras' training epochs" in output

    # The same command again follows the record of events: every job read back, the same table
    trained, logged = len(study.trained()), {r.info.run_id: study.steps(r) for r in trials(runs)}
    again = study.run(*command)
    assert len(study.trained()) == trained and "read back from the store" in again
    assert {r.info.run_id: study.steps(r) for r in trials(study.runs())} == logged  # no epoch trained
    assert table(again[len(output):], "Table 6 analogue") == table(output, "Table 6 analogue")


def test_a_worker_killed_mid_trial_reruns_its_job_charged_once(smoke_prepared, tracking_server, tmp_path):
    profile, _ = smoke_prepared
    study = Study(tmp_path, tracking_server)
    proc = study.start("compare", "--profile", "smoke", "--datasets", "digits", "--methods", "grid",
                       "--workers", "2", "--restart")
    epochs = profile.budget.epochs_per_configuration
    victim, deadline = None, time.monotonic() + 600
    while victim is None:
        assert proc.poll() is None, f"the study ended before a worker was caught mid-trial: {study.log.read_text()}"
        assert time.monotonic() < deadline
        for run in trials(study.runs()):  # a job that logged an epoch and has more to train
            worker = run.data.tags.get("worker", "")
            if run.info.status == "RUNNING" and worker and "epochs" not in run.data.metrics and \
                    0 < len(study.steps(run)) < epochs and worker.split(":")[0] == socket.gethostname():
                victim = run
                os.kill(int(worker.split(":")[1]), signal.SIGKILL)
                break
        time.sleep(0.05)
    assert proc.wait(timeout=900) == 0, study.log.read_text()[-3000:]
    runs = study.runs()
    assert not [r for r in runs if r.info.status == "RUNNING"]
    killed = study.client.get_run(victim.info.run_id)
    assert killed.info.status == "FINISHED" and killed.data.tags["worker"] != victim.data.tags["worker"]
    logged = Counter(study.steps(killed))
    assert sorted(logged) == list(range(1, epochs + 1)) and max(logged.values()) == 2  # trained again
    [method] = methods(runs)
    assert method.data.metrics["budget_used_epochs"] == profile.budget.epochs  # charged once
    # The report counts each epoch once: its budget table and anytime curve
    report = tmp_path / "reports"
    study_run = next(r for r in runs if r.data.tags.get("stage") == "compare")
    study.run("report", "--profile", "smoke", "--study", study_run.info.run_id, "--out", str(report))
    [row] = list(csv.DictReader(open(report / "tables" / "budget.csv")))
    assert int(row["epochs charged"]) == int(row["epochs logged"]) == profile.budget.epochs
    anytime = [r for r in csv.DictReader(open(report / "anytime.csv")) if r["method"] == "grid"]
    assert len(anytime) == profile.budget.epochs


def test_killed_twice_on_two_workers_the_study_resumes_on_its_record_then_finishes_on_one(
        smoke_prepared, tracking_server, tmp_path):
    profile, _ = smoke_prepared
    study = Study(tmp_path, tracking_server)
    command = ("compare", "--profile", "smoke", "--datasets", "digits", "--methods", "tpe,asha")

    def in_flight(runs, method, rungs=None):
        return [r for r in trials(runs, method=method) if r.info.status == "RUNNING" and "worker" in r.data.tags
                and (rungs is None or r.data.tags.get("rung") in rungs)]

    def tpe_pending(runs):  # TPE told a result and has proposals in flight
        return any("epochs" in r.data.metrics for r in trials(runs, method="tpe")) and in_flight(runs, "tpe")

    study.kill_when(study.start(*command, "--workers", "2", "--restart"), tpe_pending, "TPE proposals in flight")
    first = study.told()
    workers = {int(r.data.tags["worker"].split(":")[1]) for r in trials(study.runs()) if "worker" in r.data.tags}
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in workers):  # a worker process exits when its parent is gone
        assert time.monotonic() < deadline, "worker processes outlived the killed stage"
        time.sleep(0.5)
    study.kill_when(study.start(*command, "--workers", "2"), lambda runs: in_flight(runs, "asha", ("1", "2")),
                    "an ASHA promotion in flight")
    second = study.told()
    assert second["tpe"][:len(first["tpe"])] == first["tpe"]  # the rerun followed the record
    output = study.run(*command, "--workers", "1")
    assert "Table 6 analogue" in output

    runs = study.runs()
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert len([r for r in runs if r.data.tags.get("stage") == "compare"]) == 1  # the same study, reopened
    for trial in trials(runs):
        assert sorted(set(study.steps(trial))) == list(range(1, int(trial.data.metrics["epochs"]) + 1))
    trained = study.trained()
    assert len(trained) == len(set(trained))  # no finished job trained twice
    for method in methods(runs):
        name = method.data.tags["method"]
        logged = sum(len(set(study.steps(t))) for t in trials(runs, method=name))
        assert method.data.metrics["budget_used_epochs"] == logged <= profile.budget.epochs  # charged what it logged
        order = study.client.download_artifacts(method.info.run_id, "told_order.csv", str(tmp_path / name))
        told = [(int(r["trial"]), int(r["start"]), int(r["stop"])) for r in csv.DictReader(open(order))]
        assert told[:len(second[name])] == second[name]  # the replayed prefix is the order recorded before
        assert told == study.told()[name]
    print(f"\nkilled twice: {len(trained)} jobs trained, {sum(len(t) for t in study.told().values())} told")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_worker_that_cannot_read_the_data_fails_its_jobs_with_the_reason(smoke_prepared, tmp_path):
    """A scheduler and one worker started by hand (`dask scheduler`, `dask worker`), the worker
    without the prepared folder: `--scheduler` runs on them, each job fails with one line that
    names the missing folder, and the study ends instead of hanging."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_EXPERIMENT")}
    started = [subprocess.Popen([bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port",
                                 address.rsplit(":", 1)[1], "--no-dashboard"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        started.append(subprocess.Popen([bin_dir / "dask", "worker", address, "--nthreads", "1", "--nworkers", "1",
                                         "--no-dashboard"], env={**env, "HPO_PREPARED_DIR": str(tmp_path / "nowhere")},
                                        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        study = Study(tmp_path / "study", os.environ["MLFLOW_TRACKING_URI"])
        proc = study.start("compare", "--profile", "smoke", "--datasets", "digits", "--methods", "grid",
                           "--scheduler", address, "--restart")
        assert proc.wait(timeout=900) == 2  # every trial failed: the stage fails, naming the first cause
        assert "every trial of grid on digits failed (4 of 4; the first: UserError: no prepared data in" in \
            study.log.read_text()
        runs = study.runs()
        failed = trials(runs)
        assert failed and all(r.info.status == "FAILED" for r in failed)
        assert all("nowhere" in r.data.tags["error"] for r in failed), failed[0].data.tags["error"]
        [method] = methods(runs)
        assert method.data.metrics["n_failed"] == len(failed) and math.isnan(method.data.metrics["best_val_accuracy"])
    finally:
        for process in started[::-1]:
            process.terminate()
            process.wait(timeout=60)
