"""The `report` stage: on a tracking store built run by run (fast), and end to end against a real
`mlflow server` that a smoke `compare` wrote to (slow), with the page rendered in headless
Chromium.

The Chromium screenshot is kept as a test artifact: in the test's tmp_path and, to find it
after the run, at `.pytest-artifacts/report/index.png` under the repository root (ignored by git).
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from hpo import mlflow_ui
from hpo.studies.report import run_report
from tests.chromium import render
from tests.mlflow_server import free_port
from tests.report.store import BEST_B, shared

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".pytest-artifacts" / "report"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _count_runs(client: MlflowClient) -> int:
    ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(ids, max_results=5000))


def _cli(*args, uri: str, cwd: Path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    return subprocess.run([sys.executable, "-m", "hpo", "report", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


# --- on a store built run by run -------------------------------------------------------------

@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "reports"
    before = _count_runs(store.client)
    run_report("smoke", 0, [], out, uri=store.uri)
    assert _count_runs(store.client) == before  # a reader: it logs no run
    return out


def test_table6_is_the_best_child_metrics_of_the_latest_finished_study(store, report):
    rows = {r["dataset"]: r for r in _rows(report / "tables" / "table6.csv")}
    assert list(rows) == ["fashion", "digits"]
    children = store.client.search_runs([store.client.get_run(store.runs["B"]).info.experiment_id],
                                        f"tags.mlflow.parentRunId = '{store.runs['B']}'")
    for child in children:
        dataset, method = child.data.tags["dataset"], child.data.tags["method"]
        assert float(rows[dataset][f"{method} val"]) == round(child.data.metrics["best_val_accuracy"], 4) \
            == BEST_B[dataset, method]
        assert float(rows[dataset][f"{method} test"]) == round(child.data.metrics["best_test_accuracy"], 4)
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["compare"]["digits"]["grid"] == {"best_val_accuracy": 0.93, "best_test_accuracy": 0.91,
                                                    "epochs_charged": 4}
    assert metrics["subset"] == {}


def test_every_table_and_figure_is_written(report):
    names = {p.relative_to(report).as_posix() for p in report.rglob("*")}
    for table in ("table6", "budget", "table4_importance", "table5_pairs"):
        assert {f"tables/{table}.md", f"tables/{table}.csv", f"tables/{table}.tex"} <= names
    for figure in ("anytime_fashion", "anytime_digits", "curves_digits", "importance", "marginals_fashion",
                   "marginals_all_datasets"):
        assert {f"figures/{figure}.png", f"figures/{figure}.svg"} <= names
    assert not any(n.startswith("tables/table7") for n in names)
    budget = {(r["dataset"], r["method"]): r for r in _rows(report / "tables" / "budget.csv")}
    assert budget["digits", "asha"]["epochs charged"] == budget["digits", "asha"]["epochs logged"] == "4"
    assert budget["digits", "asha"]["failed trials"] == "1"


def test_the_page_shows_what_has_not_run_and_links_every_run(store, report):
    html = (report / "index.html").read_text()
    assert '<h3>Table 7 analogue</h3>\n<p class="notrun"><strong>not run</strong>: no FINISHED study run with ' \
           "stage=subset, profile=smoke, seed=0" in html
    assert html.count('<img src="figures/anytime_') == 2
    study = store.client.get_run(store.runs["B"])
    assert (f'href="http://127.0.0.1:5000/#/experiments/{study.info.experiment_id}/runs/{store.runs["B"]}'
            '?workflowType=machine_learning"') in html
    assert f"{store.runs['C']} (compare, RUNNING)" in html  # the newer unfinished study, passed over
    assert "0123456789" in html and "smoke" in html and "dddddddddddd" in html  # commit, profile, data checksum


def test_the_same_tracking_data_gives_the_same_files(store, report, tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "stale.png").write_text("from an earlier report")
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "table7.md").write_text("stale")
    (tmp_path / "README.md").write_text("kept")
    run_report("smoke", 0, [], tmp_path, uri=store.uri)
    first = {p.relative_to(report): p.read_bytes() for p in report.rglob("*") if p.is_file()}
    again = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert again.pop(Path("README.md")) == b"kept"
    assert first.keys() == again.keys() and all(first[k] == again[k] for k in first)


def test_a_study_without_marginals_gets_its_tables_and_a_note(store, tmp_path):
    run_report("smoke", 7, [], tmp_path, uri=store.uri)
    html = (tmp_path / "index.html").read_text()
    assert "Fig. 3: the study run has no marginals.json artifact; run the importance stage again" in html
    assert (tmp_path / "tables" / "table4_importance.csv").exists() and not list(tmp_path.glob("figures/marginals_*"))
    assert "not run" in html and not (tmp_path / "tables" / "table6.csv").exists()  # no compare study with seed 7


def test_cli_nonexistent_study_is_one_line_and_exit_2(store, tmp_path):
    done = _cli("--study", "0123456789abcdef0123456789abcdef", uri=store.uri, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"hpo report: error: no run 0123456789abcdef0123456789abcdef on the tracking server {store.uri}: give the "
        "id of a study run (the MLflow UI shows it), or leave --study out for the latest"]
    assert not (tmp_path / "reports").exists()


def test_cli_server_down_is_one_line_and_exit_2(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    done = _cli("--profile", "smoke", uri=uri, cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"hpo report: error: cannot use the tracking store {uri} (") and line.endswith(
        "start its server or fix MLFLOW_TRACKING_URI (unset, it is sqlite:///mlflow.db)")


# --- end to end against a real mlflow server -------------------------------------------------

@pytest.fixture(scope="module")
def served(served_compare):
    """`hpo report` run against the server of the shared smoke compare: (server URL, report folder).
    As an `hpo` command in a subprocess, so this process's MLflow state is untouched."""
    url, root = served_compare
    out = root / "reports"
    if not out.exists():
        done = _cli("--profile", "smoke", "--seed", "0", "--out", str(out), uri=url, cwd=root)
        assert done.returncode == 0, done.stderr[-3000:]
    return url, out


@pytest.mark.slow
def test_report_against_a_server_equals_the_runs_queried_directly(served):
    url, out = served
    client = MlflowClient(url)
    experiments = [e.experiment_id for e in client.search_experiments()]
    [study] = client.search_runs(experiments, "tags.stage = 'compare' and tags.profile = 'smoke'")
    children = client.search_runs([study.info.experiment_id], f"tags.mlflow.parentRunId = '{study.info.run_id}'")
    [row] = _rows(out / "tables" / "table6.csv")
    assert row["dataset"] == "digits" and len(children) == 2
    metrics = json.loads((out / "metrics.json").read_text())
    for child in children:
        method, m = child.data.tags["method"], child.data.metrics
        assert float(row[f"{method} val"]) == round(m["best_val_accuracy"], 4)
        assert float(row[f"{method} test"]) == round(m["best_test_accuracy"], 4)
        assert metrics["compare"]["digits"][method]["best_val_accuracy"] == round(m["best_val_accuracy"], 6)
    # the best trial the curves show holds the method's selected score
    from hpo.report import tables
    from hpo.report.queries import TrackingReader
    from hpo.report.selection import load_compare
    reader = TrackingReader(url)
    tree = reader.run(study.info.run_id)
    load_compare(reader, tree)
    for method_run in tree.children:
        assert tables.best_point(method_run)[2] == method_run.metrics["best_val_accuracy"]
    # the table the compare stage logged itself, fetched through the server's artifact proxy: one
    # function made both, from the same numbers, so they are the same bytes
    for name in ("table6.csv", "table6.md"):
        assert reader.artifact_text(study.info.run_id, name) == (out / "tables" / name).read_text()
    budget = _rows(out / "tables" / "budget.csv")
    assert all(r["epochs charged"] == r["epochs logged"] for r in budget)
    anytime = _rows(out / "anytime.csv")
    for method in ("grid", "asha"):
        points = [r for r in anytime if r["method"] == method]
        assert len(points) == int(float(next(r for r in budget if r["method"] == method)["epochs charged"]))
    html = (out / "index.html").read_text()
    assert f'href="{mlflow_ui.run_url(url, study.info.experiment_id, study.info.run_id)}"' in html
    assert html.count("<strong>not run</strong>") == 2  # importance and subset; prepare is only provenance


@pytest.mark.slow
def test_cli_nonexistent_study_on_a_server(served, tmp_path):
    url, _ = served
    done = _cli("--study", "ffffffffffffffffffffffffffffffff", uri=url, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"hpo report: error: no run ffffffffffffffffffffffffffffffff on the tracking server {url}: give the id of a "
        "study run (the MLflow UI shows it), or leave --study out for the latest"]


@pytest.mark.slow
def test_the_page_renders_in_headless_chromium(served, tmp_path):
    import numpy as np
    from matplotlib.image import imread

    _, out = served
    shot = tmp_path / "index.png"
    render((out / "index.html").as_uri(), shot)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "index.png")
    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 100  # text, tables and plotted lines, not a blank or an error page
    html = (out / "index.html").read_text()
    [row] = _rows(out / "tables" / "table6.csv")
    for column in ("grid val", "asha val", "max difference"):
        assert f">{float(row[column]):g}</td>" in html
    assert '<img src="figures/anytime_digits.png"' in html and (out / "figures" / "anytime_digits.png").exists()
    # Table 6 and the anytime figure come first, within the screenshot's 2000 px
    assert html.index("Table 6 analogue") < html.index('<img src="figures/anytime_digits.png"') < html.index(
        "Budget:")


def test_repetitions_get_a_leaderboard_intervals_ranks_pairs_and_the_papers_claims(tmp_path):
    from tests.report.store import build_repetitions

    store = build_repetitions(tmp_path / "store")
    run_report("smoke", 0, [], tmp_path / "out", uri=store.uri)
    folder = tmp_path / "out" / "tables"
    intervals = _rows(folder / "repetitions.csv")
    assert len(intervals) == 2 * 2 * 3 and {r["repetitions"] for r in intervals} == {"0", "4"}
    at = {(r["dataset"], r["method"], float(r["budget share"])): r for r in intervals}
    asha, early = at["digits", "asha", 1.0], at["digits", "grid", 0.25]
    assert early["repetitions"] == "0" and early["val mean"] == ""  # no grid job had ended by the first epoch
    # each repetition's best: 0.8 + 0.01 s + 0.05; its test accuracy 0.01 below (the job that scored it)
    assert float(asha["val mean"]) == pytest.approx(0.865) and float(asha["val low"]) < 0.865 < float(asha["val high"])
    assert float(asha["test mean"]) == pytest.approx(0.855)
    ranks = {r["method"]: float(r["test mean rank"]) for r in _rows(folder / "ranks.csv")}
    assert ranks == {"grid": 2.0, "asha": 1.0}
    board = _rows(folder / "leaderboard.csv")  # heads the statistics: best first, with the rank's interval
    assert [(r["method"], r["label"], float(r["mean rank"]), r["blocks"]) for r in board] == [
        ("asha", "ASHA", 1.0, "8"), ("grid", "grid search", 2.0, "8")]
    [val_pair, test_pair] = _rows(folder / "pairs.csv")
    assert (test_pair["first"], test_pair["second"], test_pair["blocks"]) == ("grid", "asha", "8")
    assert float(test_pair["P(first better)"]) == 0.0 and test_pair["different"] == "yes"
    [claim] = _rows(folder / "claims.csv")
    assert claim["claim"].startswith("ASHA reaches a better configuration") and claim["verdict"] == "supported"
    assert float(claim["p"]) == pytest.approx(1 / 256, abs=1e-4)  # 8 blocks, all in ASHA's favour
    assert "Repetitions: 4 search seeds (0, 1, 2, 3)" in (tmp_path / "out" / "index.html").read_text()
