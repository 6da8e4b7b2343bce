"""`scripts/server.sh` driven from tests: PostgreSQL and `mlflow server` in a folder of their own, on
free ports, with what the script prints checked."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.mlflow_server import free_port

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "server.sh"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for init to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """The running processes of process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


class ServerScript:
    """The script's server, kept under `folder`, at `uri`."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder = folder
        self.port = free_port()
        self.pg_port = free_port()
        while self.pg_port == self.port:
            self.pg_port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "SERVER_"))}
        self.env = {**env, "SERVER_DIR": str(folder), "SERVER_PORT": str(self.port),
                    "SERVER_PG_PORT": str(self.pg_port), "SERVER_WORKERS": str(workers)}

    def run(self, command: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SCRIPT), command], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self) -> subprocess.CompletedProcess:
        done = self.run("start")
        if done.returncode != 0:
            log = self.folder / "mlflow.log"
            raise RuntimeError(f"server.sh start failed ({done.returncode}): {done.stderr}"
                               + (log.read_text()[-3000:] if log.exists() else ""))
        assert done.stdout == f"export MLFLOW_TRACKING_URI={self.uri}\n", done.stdout
        return done

    def pids(self) -> dict[str, int]:
        """The pids of mlflow server (its process group's id too) and of PostgreSQL's postmaster,
        those whose pid files exist."""
        files = {"mlflow": self.folder / "mlflow.pid", "postgres": self.folder / "postgres" / "postmaster.pid"}
        return {name: int(file.read_text().split()[0]) for name, file in files.items() if file.exists()}

    def stop(self) -> None:
        """Stop both; raise if anything of them still runs or listens."""
        pids = self.pids()
        done = self.run("stop")
        left = [f"port {port}" for port in (self.port, self.pg_port) if port_open(port)]
        if "mlflow" in pids:
            left += [f"mlflow server process {pid}" for pid in group_members(pids["mlflow"])]
        if "postgres" in pids and running(pids["postgres"]):
            left.append(f"postgres {pids['postgres']}")
        if done.returncode != 0 or left:
            raise RuntimeError(f"server.sh stop ({done.returncode}) left {left}: {done.stderr}")
