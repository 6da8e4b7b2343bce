"""What the MLflow UI shows of a study: on small stores built here (fast), and in a real `mlflow ui`
that `hpo ui` starts on the store of a smoke compare, rendered in headless Chromium (slow).

The screenshots are kept as test artifacts: in the test's tmp_path and at
`.pytest-artifacts/ui/{runs,study}.png` under the repository root (ignored by git)."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from hpo import mlflow_ui, tracking
from hpo.profiles import load_profile
from tests.chromium import render
from tests.mlflow_server import free_port

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / ".pytest-artifacts" / "ui"
ENTRY = {"checksum": "ab" * 32, "train": 10, "val": 4, "test": 6, "train_class_counts": [5, 5],
         "val_class_counts": [2, 2], "test_class_counts": [3, 3]}


def test_trial_run_names_say_method_trial_and_key_hyperparameters():
    config = {"fine_tuned_layers": 18, "optimizer": "adam", "learning_rate": 0.003, "dropout": 0.2}
    assert mlflow_ui.trial_run_name("asha", 12, config) == "asha trial 12 · k=18 adam lr=3e-3"
    assert mlflow_ui.trial_run_name("grid", 0, {}) == "grid trial 0"
    assert [mlflow_ui.short_number(v) for v in (0.00025, 0.0237374, 0.1, 1e-5)] == ["2.5e-4", "0.024", "0.1", "1e-5"]


def test_the_reproducing_command_is_the_entry_point_with_every_parameter():
    assert mlflow_ui.reproduce_command("compare", load_profile("smoke"), 0, datasets="digits", methods="grid,asha",
                                       budget=8) == ("mlflow run . -e compare -P profile=smoke -P seed=0 "
                                                     "-P datasets=digits -P methods=grid,asha -P budget=8 "
                                                     "-P restart=yes")


def test_a_study_marks_its_experiment_and_keeps_one_input_per_split_when_it_continues(client):
    for _ in range(2):  # the second time, the same study run is reopened and logs its inputs again
        with tracking.study_run("ui-check", "ui-check study", {"stage": "ui-check"}, "ui-check-key") as run:
            tracking.log_inputs(mlflow_ui.split_inputs("toy", ENTRY, Path("prepared/toy.npz")))
            tracking.set_description("x" * 9000)
    stored = client.get_run(run.info.run_id)
    inputs = {(i.dataset.name, i.dataset.digest, {t.key: t.value for t in i.tags}["mlflow.data.context"],
               json.loads(i.dataset.profile)["num_rows"]) for i in stored.inputs.dataset_inputs}
    assert len(stored.inputs.dataset_inputs) == 3 and inputs == {
        ("toy train", "abababababab", "training", 10), ("toy val", "abababababab", "validation", 4),
        ("toy test", "abababababab", "test", 6)}
    experiment = client.get_experiment(stored.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    description = stored.data.tags["mlflow.note.content"]
    assert len(description) <= tracking.MAX_TAG_LENGTH and description.endswith("the whole tables)\n")


def _ui(port: int, uri: str, cwd: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    return subprocess.Popen([sys.executable, "-m", "hpo", "ui", "--port", str(port)], env=env, cwd=cwd,
                            start_new_session=True, text=True, **kwargs)


def test_ui_names_the_newest_study_and_refuses_a_busy_port(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = MlflowClient(uri)
    experiment = store.create_experiment("compare")
    study = store.create_run(experiment, run_name="compare smoke seed 0",
                             tags={"stage": "compare", tracking.STUDY_KEY: "k"}).info.run_id
    store.create_run(experiment, run_name="asha trial 0", tags={tracking.STUDY_KEY: "k"})  # newer, not a study
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        done = _ui(port, uri, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = done.communicate(timeout=600)
    assert out.splitlines() == [f"newest study: compare smoke seed 0 (RUNNING): http://127.0.0.1:{port}/#/experiments/"
                                f"{experiment}/runs/{study}?workflowType=machine_learning"]
    assert done.returncode == 2 and err.splitlines() == [
        f"hpo ui: error: port {port} on 127.0.0.1 is in use (another MLflow UI?): stop it, or pass --port"]


def test_ui_without_a_store_is_one_line(tmp_path):
    missing = tmp_path / "none.db"
    done = _ui(free_port(), f"sqlite:///{missing}", tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = done.communicate(timeout=600)
    assert done.returncode == 2 and not missing.exists()
    assert err.splitlines() == [f"hpo ui: error: no tracking store at sqlite:///{missing} (file {missing} does not "
                                "exist): run a stage first, or set MLFLOW_TRACKING_URI to the server that holds "
                                "the studies"]


# --- a real `mlflow ui` on the store of a smoke compare --------------------------------------

def _first_line(path: Path, proc: subprocess.Popen, timeout: float = 600) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = path.read_text() if path.exists() else ""
        if "\n" in text:
            return text.splitlines()[0]
        assert proc.poll() is None, text[-2000:]
        time.sleep(0.2)
    raise AssertionError("hpo ui printed nothing")


def _wait_until_up(base: str, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while True:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)
            return
        except OSError:
            assert time.time() < deadline, f"mlflow ui did not answer on {base}"
            time.sleep(0.5)


def _text(dom: str) -> str:
    """The page's visible text, on one line."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


@pytest.fixture(scope="module")
def ui(served_compare, tmp_path_factory):
    """`hpo ui` (what `make ui` runs) on the smoke compare's store: (UI address, its first line)."""
    _, root = served_compare
    here = tmp_path_factory.mktemp("ui")
    log, port = here / "ui.log", free_port()
    with open(log, "w") as out:
        proc = _ui(port, f"sqlite:///{root / 'server' / 'server.db'}", here, stdout=out, stderr=subprocess.STDOUT)
    try:
        line = _first_line(log, proc)
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, proc, log)
        yield base, line
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_the_ui_opens_on_the_runs_with_their_datasets_and_the_study_shows_table6(served_compare, ui, tmp_path):
    url, _ = served_compare
    base, line = ui
    store = MlflowClient(url)
    [study] = store.search_runs([e.experiment_id for e in store.search_experiments()], "tags.stage = 'compare'")
    experiment = study.info.experiment_id
    assert line == (f"newest study: compare smoke seed 0 (FINISHED): "
                    f"{mlflow_ui.run_url(base, experiment, study.info.run_id)}")

    # the facts, through the REST API
    assert store.get_experiment(experiment).tags["mlflow.experimentKind"] == "custom_model_development"
    digest = study.data.tags["data_checksum"]  # the study's; each split's digest is its dataset's
    names = {i.dataset.name for i in study.inputs.dataset_inputs}
    assert names == {"digits train", "digits val", "digits test"}
    description = study.data.tags["mlflow.note.content"]
    table6 = store.download_artifacts(study.info.run_id, "table6.md", str(tmp_path))
    assert Path(table6).read_text().strip() in description and "Table 6 analogue" in description
    methods = store.search_runs([experiment], f"tags.mlflow.parentRunId = '{study.info.run_id}'")
    for method in methods:
        assert {i.dataset.name for i in method.inputs.dataset_inputs} == names
        trials = store.search_runs([experiment], f"tags.mlflow.parentRunId = '{method.info.run_id}'")
        assert trials and all(re.fullmatch(rf"{method.data.tags['method']} trial \d+ · k=\d+ \w+ lr=[0-9.e-]+",
                                           t.info.run_name) for t in trials)
        best = re.escape(f"- digits {method.data.tags['method']}: `")
        assert re.search(best + rf"{method.data.tags['method']} trial \d+ · ", description)
    assert "mlflow run . -e compare -P profile=smoke -P seed=0 -P datasets=digits -P methods=grid,asha " \
           "-P budget=8 -P restart=yes" in description and digest[:12] in description
    assert "`mlflow run . -e report -P profile=smoke` writes `reports/index.html`" in description

    # what a user sees: the experiment opens on its runs, the study shows its dataset ...
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _text(render(mlflow_ui.experiment_url(base, experiment), tmp_path / "runs.png", size=(1400, 900),
                        dom=True, wait_ms=10000))
    shutil.copy(tmp_path / "runs.png", ARTIFACTS / "runs.png")
    assert "Runs - Experiment" in page and "compare smoke seed 0" in page, page[:3000]
    assert "Traces 0" not in page and "No data available" not in page
    split = next(i.dataset for i in study.inputs.dataset_inputs if i.dataset.name == "digits train")
    assert f"digits train ({split.digest})" in page
    # ... and the study's page holds Table 6 as a table, the best trials and the command
    dom = render(line.rsplit(" ", 1)[1], tmp_path / "study.png", size=(1400, 1100), dom=True, wait_ms=10000)
    shutil.copy(tmp_path / "study.png", ARTIFACTS / "study.png")
    page = _text(dom)
    assert "Description" in page and "Table 6 analogue" in page and "Best trial of each search" in page, page[:3000]
    assert re.search(r"<table\b.*?grid val.*?</table>", dom, flags=re.S)
    assert "digits train (" in page and "mlflow run . -e compare" in page
