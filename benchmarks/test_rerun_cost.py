"""What a rerun after a crash costs on 2 Dask workers: `hpo compare --methods tpe,asha --workers 2`
on one dataset, killed with SIGKILL once half of its jobs have ended, then the same command again;
then once more, on the finished study. Prints each rerun's wall time, the time to its first
progress line (start-up: the process, the cluster, reading the record), the jobs read back and
the jobs trained again (in flight at the kill). HPO_BENCH_PROFILE picks the profile (default
smoke, prepared here into a temporary folder; embedded needs `hpo prepare --profile embedded`).
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

PROFILE = os.environ.get("HPO_BENCH_PROFILE", "smoke")
JOB = re.compile(r"^\[[^\]]+\] trial \d+.* epochs \d+->\d+: .*\((?P<how>read back from the store|[\d.]+ s)\)$")
COMMAND = ["compare", "--profile", PROFILE, "--datasets", "digits", "--methods", "tpe,asha", "--workers", "2"]


def _hpo(env: dict, cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hpo", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=cwd)


def _timed(proc: subprocess.Popen) -> dict:
    """Wall time, time to the first job line, and the job lines (read back, trained) of a run."""
    started, first, jobs = time.perf_counter(), None, []
    for line in proc.stdout:
        if m := JOB.match(line.strip()):
            first = first or time.perf_counter() - started
            jobs.append(m["how"])
    assert proc.wait() == 0
    read_back = sum(how == "read back from the store" for how in jobs)
    return {"wall": time.perf_counter() - started, "first line": first, "read back": read_back,
            "trained": len(jobs) - read_back}


def test_a_rerun_after_a_crash_on_two_workers(tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "HPO_CHECKPOINT_DIR": str(tmp_path / "checkpoints"), "PYTHONUNBUFFERED": "1"}
    if PROFILE == "smoke":
        env["HPO_PREPARED_DIR"] = str(tmp_path / "prepared")
        assert _hpo(env, tmp_path, "prepare", "--profile", "smoke").wait() == 0
    whole = _timed(_hpo(env, tmp_path, *COMMAND, "--restart"))
    half = (whole["trained"] + 1) // 2

    proc, ended = _hpo(env, tmp_path, *COMMAND, "--restart"), 0
    for line in proc.stdout:
        ended += bool(JOB.match(line.strip()))
        if ended >= half:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    running = [r for r in client.search_runs([e.experiment_id for e in client.search_experiments()],
                                             "attributes.status = 'RUNNING'") if "trial" in r.data.tags]
    rerun = _timed(_hpo(env, tmp_path, *COMMAND))
    finished = _timed(_hpo(env, tmp_path, *COMMAND))
    print(f"\n{PROFILE} compare of digits, tpe and asha on 2 workers: {whole['trained']} jobs, {whole['wall']:.1f} s "
          f"uninterrupted; killed after {half} jobs ended, {len(running)} in flight")
    print(f"{'rerun':<22}{'wall s':>8}{'first line s':>14}{'read back':>11}{'trained':>9}")
    for name, run in (("after the kill", rerun), ("of the finished study", finished)):
        print(f"{name:<22}{run['wall']:>8.1f}{run['first line']:>14.1f}{run['read back']:>11}{run['trained']:>9}")
    assert finished["trained"] == 0 and finished["read back"] == rerun["read back"] + rerun["trained"]
