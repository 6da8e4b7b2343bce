"""What the report reads from the tracking server, as plain data: study runs found by their tags,
their children and grandchildren by `tags.mlflow.parentRunId`, metrics, metric histories and a
few artifacts (downloaded through the server).

`hpo.tracking` writes the stages' runs; this module reads them. Nothing else under hpo/report
touches MLflow: what it returns (`RunData`, `Point`) is plain data for the tables, figures and page.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from hpo.errors import UserError, one_line
from hpo.mlflow_ui import LOCAL_UI, run_url
from hpo.tracking import PROBE_ENVIRONMENT, check_store, environment, sqlite_path, tracking_uri, trial_record

STAGES = ("prepare", "importance", "compare", "subset")
CURVE_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
PAGE = 1000  # runs per search request


class Point(NamedTuple):
    """One logged value of a metric."""
    timestamp: int  # ms since the epoch, as MLflow stores it
    step: int
    value: float


@dataclass
class RunData:
    """One run as plain data. `children` and `histories` are filled only where the report asked."""
    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]  # latest value of each metric
    children: list[RunData] = field(default_factory=list)
    histories: dict[str, list[Point]] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        return self.tags.get("stage", "")


class TrackingReader:
    """Read-only access to one tracking store. Construction checks that it can be read, so a
    server that is down is one line, not a long retry loop and a traceback."""

    def __init__(self, uri: str | None = None):
        self.uri = uri or tracking_uri()
        path = sqlite_path(self.uri)
        if path is not None and not path.exists():  # MLflow would create an empty store there
            raise UserError(f"no tracking store at {self.uri} (file {path} does not exist): run a stage first, "
                            "or set MLFLOW_TRACKING_URI to the server that holds the studies")
        check_store(self.uri)  # a store MLflow cannot open (a folder, garbage) is one line at once, not retries
        self.client = MlflowClient(self.uri)
        # MLflow retries a refused connection for minutes; while probing the store, do not
        with environment(**PROBE_ENVIRONMENT):
            try:
                experiments = self._all_experiments()
                self.experiment_ids = sorted(e.experiment_id for e in experiments)
                self.experiment_names = {e.experiment_id: e.name for e in experiments}
            except MlflowException as e:
                raise UserError(f"cannot read the tracking server {self.uri} ({one_line(e)}): start it, or set "
                                "MLFLOW_TRACKING_URI to a server that runs") from None

    def _all_experiments(self):
        experiments, token = [], None
        while True:
            page = self.client.search_experiments(max_results=PAGE, page_token=token)
            experiments.extend(page)
            token = page.token
            if not token:
                return experiments

    def _search(self, where: str, experiment_ids: list[str] | None = None, order_by=None) -> list[RunData]:
        runs, token = [], None
        ids = experiment_ids or self.experiment_ids
        if not ids:
            return []
        while True:
            page = self.client.search_runs(ids, where, max_results=PAGE, page_token=token,
                                           order_by=order_by or ["attributes.start_time DESC"])
            runs.extend(_run_data(r) for r in page)
            token = page.token
            if not token:
                return runs

    def studies(self, stage: str, profile: str, seed: int | None) -> list[RunData]:
        """Every study run of `stage` for `profile` (and `seed`), in any experiment, newest first."""
        where = f"tags.stage = '{stage}' and tags.profile = '{_quoted(profile)}'"
        if seed is not None:
            where += f" and tags.seed = '{seed}'"
        return self._search(where)

    def has_profile(self, profile: str) -> bool:
        """Whether any run of the store is tagged with this profile."""
        return bool(self.experiment_ids) and bool(self.client.search_runs(
            self.experiment_ids, f"tags.profile = '{_quoted(profile)}'", max_results=1))

    def newest_study(self) -> RunData | None:
        """The study run (of any stage) that started last."""
        if not self.experiment_ids:
            return None
        runs = self.client.search_runs(self.experiment_ids, "tags.study_key LIKE '%' and tags.stage LIKE '%'",
                                       max_results=1,
                                       order_by=["attributes.start_time DESC"])
        return _run_data(runs[0]) if runs else None

    def run(self, run_id: str) -> RunData:
        try:
            return _run_data(self.client.get_run(run_id))
        except MlflowException as e:
            if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                raise UserError(f"no run {run_id} on the tracking server {self.uri}: give the id of a study run "
                                "(the MLflow UI shows it), or leave --study out for the latest") from None
            raise

    def children(self, run: RunData) -> list[RunData]:
        """The runs nested under `run` (they live in its experiment), oldest first."""
        runs = self._search(f"tags.mlflow.parentRunId = '{run.run_id}'", [run.experiment_id])
        return sorted(runs, key=lambda r: (r.start_time, r.run_id))

    def history(self, run_id: str, key: str) -> list[Point]:
        """Every logged value, oldest first; for a per-epoch metric, the last value logged for each
        epoch: a job cut short by a crash and trained again logged its first epochs twice."""
        points = sorted(Point(m.timestamp, m.step, m.value) for m in self.client.get_metric_history(run_id, key))
        return trial_record.last_per_epoch(points) if key in CURVE_METRICS else points

    def artifact_text(self, run_id: str, path: str) -> str | None:
        """The text of one artifact of `run_id`, fetched through the tracking server; None if absent."""
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        try:
            if path not in {a.path for a in self.client.list_artifacts(run_id, parent or None)}:
                return None
            with tempfile.TemporaryDirectory(prefix="hpo-report-") as scratch, environment(
                    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"):
                local = self.client.download_artifacts(run_id, path, scratch)
                return Path(local).read_text()
        except (MlflowException, OSError):
            return None

    def ui_base(self) -> str:
        """Where the MLflow UI of this store is: the server itself, or `make ui` for a local store."""
        if urlparse(self.uri).scheme in ("http", "https"):
            return self.uri.rstrip("/")
        return LOCAL_UI

    def link(self, run: RunData) -> str:
        """The MLflow UI's address of a run (on its model-training pages)."""
        return run_url(self.ui_base(), run.experiment_id, run.run_id)


def _quoted(text: str) -> str:
    return text.replace("'", "\\'")


def _run_data(run) -> RunData:
    return RunData(run.info.run_id, run.info.experiment_id, run.info.run_name or "", run.info.status,
                   run.info.start_time or 0, dict(run.data.tags), dict(run.data.params), dict(run.data.metrics))


@contextmanager
def reading(uri: str):
    """An MLflow error met after the store was reached (the server went away) as one line."""
    try:
        yield
    except MlflowException as e:
        raise UserError(f"reading the tracking server {uri} failed ({one_line(e)})") from None
