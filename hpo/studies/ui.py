"""`hpo ui`: the MLflow UI on the tracking store, opened on the newest study (its address printed
first). A reader of the store, so it lives apart from hpo/mlflow_ui.py, which the writers use."""

from __future__ import annotations

import errno
import os
import socket
import sys

from hpo.errors import UserError, one_line
from hpo.mlflow_ui import MODEL_TRAINING_VIEW, run_url
from hpo.report.queries import TrackingReader


def _check_address(host: str, port: int) -> None:
    """The UI can listen on `host`:`port`: the host resolves to an address of this machine, and
    nothing listens on the port there."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError, ValueError) as e:
        raise UserError(f"--host {host!r} does not resolve ({one_line(e, 200)}): give 127.0.0.1 (this machine "
                        "only), 0.0.0.0 (every interface) or a name of this machine") from None
    with socket.socket(family, kind) as s:
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is in use (another MLflow UI?): stop it, or pass --port") \
                    from None
            raise UserError(f"cannot listen on {host} port {port} ({e.strerror or e}): give 127.0.0.1, 0.0.0.0 or "
                            "an address of this machine") from None


def serve(host: str = "127.0.0.1", port: int = 5000) -> None:
    """Print the address of the newest study in the store, then run `mlflow ui` on it (a local
    store), or only print (a tracking server is its own UI)."""
    reader = TrackingReader()
    remote = reader.uri.startswith(("http://", "https://"))
    base = reader.uri.rstrip("/") if remote else f"http://{host}:{port}"
    study = reader.newest_study()
    if study is None:
        print(f"no study in {reader.uri} yet (run `make run`); the experiments: {base}/#/experiments?"
              f"{MODEL_TRAINING_VIEW}", flush=True)
    else:
        print(f"newest study: {study.name} ({study.status}): {run_url(base, study.experiment_id, study.run_id)}",
              flush=True)
    if remote:
        return
    _check_address(host, port)
    os.execv(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--host", host, "--port", str(port),
                              "--backend-store-uri", reader.uri])
