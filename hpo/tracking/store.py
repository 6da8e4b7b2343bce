"""The tracking store: its URI, a probe that fails fast where it cannot be reached or read, a
client of it, how often a job writes its epochs there, and searches of its runs, page by page.
Tracking URI: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from hpo import settings, store_outage
from hpo.errors import UserError, one_line

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI when set, otherwise the local sqlite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_path(uri: str) -> Path | None:
    """The file of a sqlite store's URI; None for other stores and in-memory sqlite."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


# While probing a store: MLflow retries a refused connection for minutes before its traceback.
PROBE_ENVIRONMENT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def check_store(uri: str | None = None) -> None:
    """Fail within seconds, with one line, where the tracking store cannot be reached or read."""
    uri = uri or tracking_uri()
    store_outage.wait_seconds()  # a malformed HPO_TRACKING_WAIT is said before any work too
    epoch_log_seconds()  # and HPO_EPOCH_LOG_SECONDS
    fix = "start its server or fix MLFLOW_TRACKING_URI (unset, it is sqlite:///mlflow.db)"
    path = sqlite_path(uri)
    if path is not None:  # MLflow retries a path it cannot open for two minutes
        if (path.exists() and not path.is_file()) or not path.parent.is_dir():
            raise UserError(f"cannot use the tracking store {uri}: {path} is not a file in an existing folder: {fix}")
    try:
        with environment(**PROBE_ENVIRONMENT):
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as e:  # MLflow, SQLAlchemy, requests and URI-scheme errors alike
        reason = "nothing answers there" if "NewConnectionError" in str(e) else one_line(f"{type(e).__name__}: {e}",
                                                                                          300)
        raise UserError(f"cannot use the tracking store {uri} ({reason}): {fix}") from None


@contextmanager
def environment(**keys: str):
    """Environment variables set for the duration of a block (MLflow reads its settings there)."""
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def client(uri: str | None = None) -> MlflowClient:
    """A client of the store at `uri` (by default tracking_uri()), for writing by run id; a server
    that stops answering is waited for (store_outage)."""
    uri = uri or tracking_uri()
    store_outage.install(uri)
    return MlflowClient(uri)


EPOCH_LOG_VARIABLE = "HPO_EPOCH_LOG_SECONDS"
DEFAULT_EPOCH_LOG_S, MAX_EPOCH_LOG_S = 10, 3600


def epoch_log_seconds() -> int:
    """HPO_EPOCH_LOG_SECONDS: a running job writes the epochs it trained at least this often, and
    the rest with its end (0: each epoch as it ends). One write per short job instead of one per
    epoch; an epoch of a long job still shows as it ends."""
    return settings.seconds(EPOCH_LOG_VARIABLE, DEFAULT_EPOCH_LOG_S, MAX_EPOCH_LOG_S)


def configure() -> str:
    """Point MLflow at tracking_uri(), waiting for a server that stops answering; return it."""
    uri = tracking_uri()
    store_outage.install(uri)
    mlflow.set_tracking_uri(uri)
    return uri



def _search(experiment_ids: list[str], where: str, order: str = "DESC") -> list:
    """Every run that matches, page after page, by start time."""
    return _search_with(MlflowClient(), experiment_ids, where, order)


def _search_with(client: MlflowClient, experiment_ids: list[str], where: str, order: str = "DESC") -> list:
    runs, token = [], None
    if not experiment_ids:
        return runs
    while True:
        page = client.search_runs(experiment_ids, where, max_results=1000,
                                  order_by=[f"attributes.start_time {order}"], page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs
