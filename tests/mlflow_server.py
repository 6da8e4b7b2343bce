"""A real `mlflow server` for tests: sqlite backend, artifacts served through the server
(`--serve-artifacts`), on 127.0.0.1 and a free port, started as a subprocess and stopped after;
it can be stopped and started again on the same port (a tracking outage)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """A server that keeps its store and artifacts under `root`, at `url`."""

    def __init__(self, root: Path, start_timeout: float = 120):
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.start_timeout, self.port = root, start_timeout, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @property
    def store(self) -> Path:
        return self.root / "server.db"

    def start(self) -> None:
        with open(self.root / "server.log", "a") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", "1", "--backend-store-uri", f"sqlite:///{self.store}", "--serve-artifacts",
                 "--artifacts-destination", str(self.root / "artifacts")],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        deadline = time.time() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.proc.returncode}: "
                                   f"{(self.root / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=2)
                return
            except OSError:
                if time.time() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"mlflow server did not answer on {self.url} in {self.start_timeout:.0f} s") from None
                time.sleep(0.5)

    def stop(self) -> None:
        """Stop the server and every process it started (its web server workers)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        deadline = time.time() + 30  # its workers may outlive it a moment: the port is free when none answers
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.2)


@contextmanager
def mlflow_server(root: Path, start_timeout: float = 120):
    """Yield the URL of a running server that keeps its store and artifacts under `root`."""
    server = MlflowServer(root, start_timeout)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
