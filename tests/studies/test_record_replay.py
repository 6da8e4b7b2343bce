"""`hpo record` and `hpo replay` end to end on the smoke profile: a real recorded table, a live
grid search it must reproduce exactly, 20 replayed seeds of the paper's methods and of a method
from another package (tests/plugins, installed for the test), and the report."""

import json
import math

import pytest

from hpo import recorded, tracking
from hpo.cli import main
from tests.studies.test_compare import _children


def _studies(client, stage):
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id],
                                                                               f"tags.stage = '{stage}'")]


@pytest.mark.slow
def test_record_then_replay_reproduces_grid_and_reports_statistics(smoke_prepared, smoke_table, client, tmp_path,
                                                                   capsys, plugin_installed):
    # smoke_table recorded digits in this store once; this record continues that study (nothing trained)
    profile, _ = smoke_prepared  # and local_search, installed: a method no file of the suite names
    table_file = tmp_path / "smoke.json"
    assert main(["record", "--profile", "smoke", "--datasets", "digits", "--out", str(table_file)]) == 0
    table = recorded.load(table_file)
    points = table.points("digits")
    assert len(points) == len(recorded.design(profile, 0)) == 4 * profile.record.grid_seeds + \
        profile.record.random_points
    assert all(p.trained == recorded.epochs(profile) == 4 and p.error is None for p in points)
    assert table.provenance["data_checksum"] and len(table.provenance["git_commit"]) in (7, 40) or \
        table.provenance["git_commit"] == "unknown"
    [study] = [s for s in _studies(client, "record") if s.info.run_id == table.provenance["study_run_id"]]
    assert study.info.status == "FINISHED"
    [design] = _children(client, study.info.run_id)
    trials = _children(client, design.info.run_id)
    assert len(trials) == len(points)
    for t in trials:  # every epoch's test accuracy and seconds are in the store
        point = points[int(t.data.tags["trial"])]
        history = client.get_metric_history(t.info.run_id, "test_accuracy")
        assert sorted((m.step, m.value) for m in history) == list(enumerate(point.curves["test_accuracy"], 1))

    # a second record reads everything back and writes the same table
    assert main(["record", "--profile", "smoke", "--datasets", "digits", "--out", str(table_file)]) == 0
    assert "read back from the store" in capsys.readouterr().out
    assert recorded.load(table_file).checksum == table.checksum

    # the live grid search of the same seed: replay gives exactly its Table 6 entry; the plug-in runs live too
    # (--restart: other tests leave grid studies of the same key, one of them on another grid)
    assert main(["compare", "--profile", "smoke", "--datasets", "digits", "--methods", "grid,local_search",
                 "--restart"]) == 0
    live, plugged = _children(client, tracking.last_study_record()["run_id"])[::-1]
    assert (live.data.tags["method"], plugged.data.tags["method"]) == ("grid", "local_search")
    assert plugged.data.metrics["budget_used_epochs"] == profile.budget.epochs
    methods = "grid,random,tpe,asha,local_search"
    assert main(["replay", "--profile", "smoke", "--table", str(table_file), "--repetitions", "20",
                 "--methods", methods]) == 0
    [replay] = _studies(client, "replay")
    assert replay.info.status == "FINISHED" and replay.data.tags["replayed"] == "true"
    assert replay.data.tags["table_checksum"] == table.checksum and replay.data.tags["search_seeds"] == "0-19"
    scores = {(r["search seed"], r["method"], r["share"]): (r["val"], r["test"])
              for r in _csv(client, replay.info.run_id, "replay/scores.csv")}
    assert len(scores) == 20 * 5 * 3
    assert scores[0, "grid", 1.0] == (live.data.metrics["best_val_accuracy"], live.data.metrics["best_test_accuracy"])
    methods = _children(client, replay.info.run_id)
    assert sorted(m.data.tags["method"] for m in methods) == ["asha", "grid", "local_search", "random", "tpe"]
    for m in methods:
        assert m.data.metrics["seeds"] == 20 and 0 < m.data.metrics["budget_used_epochs"] <= profile.budget.epochs
    ours = [study.info.experiment_id, replay.info.experiment_id]  # other tests leave runs RUNNING on purpose
    assert not client.search_runs(ours, "attributes.status = 'RUNNING'")

    from hpo.studies.report import run_report
    out = tmp_path / "reports"
    index = run_report("smoke", 0, [], out, uri=client.tracking_uri)
    html = index.read_text()
    assert "Study II replayed on a recorded table" in html and "20 search seeds" in html
    intervals = (out / "tables" / "replay_intervals.csv").read_text().splitlines()
    assert len(intervals) == 1 + 5 * 3 and all(",20," in row for row in intervals[1:])
    assert any(row.startswith("digits,local_search,") for row in intervals)
    assert "local_search" in (out / "tables" / "replay_ranks.csv").read_text()
    board = (out / "tables" / "replay_leaderboard.csv").read_text().splitlines()
    assert board[0].startswith("method,label,mean rank,rank low,rank high,blocks") and len(board) == 1 + 5
    assert "local search (plug-in)" in "".join(board)
    assert "local search (plug-in)" in (out / "figures" / "replay_digits_epochs.svg").read_text()  # its label
    assert "local_search val" in (out / "tables" / "table6.csv").read_text()  # the live compare's Table 6
    claims = (out / "tables" / "replay_claims.csv").read_text().splitlines()
    assert claims[0] == "claim,blocks,p,verdict" and len(claims) == 3
    assert all(row.endswith(("supported", "not shown")) for row in claims[1:])
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["replay"]["digits"]) == {"grid", "random", "tpe", "asha", "local_search"}
    assert all(v["search_seeds"] == 20 and not math.isnan(v["mean_best_test_accuracy"])
               for v in metrics["replay"]["digits"].values())
    for name in ("replay_digits_epochs", "replay_digits_seconds", "replay_ranks"):
        assert (out / "figures" / f"{name}.svg").is_file()
    assert (out / "replay_anytime.csv").read_text().startswith("dataset,method,epochs charged,mean best val_accuracy")


@pytest.mark.slow
def test_replay_refuses_a_missing_or_foreign_table_before_any_run(smoke_prepared, client, tmp_path, capsys):
    assert main(["replay", "--profile", "smoke", "--table", str(tmp_path / "none.json")]) == 2
    assert "not found: make it with hpo record" in capsys.readouterr().err
    table = tmp_path / "other.json"
    table.write_text(json.dumps({"format": recorded.FORMAT, "provenance": {"profile": "embedded", "seed": 0},
                                 "space": {}, "datasets": {}}))
    before = len(_studies(client, "replay"))
    assert main(["replay", "--profile", "smoke", "--table", str(table)]) == 2
    assert "recorded on profile embedded, not smoke: give --profile embedded" in capsys.readouterr().err
    assert len(_studies(client, "replay")) == before


def _csv(client, run_id, path):
    import io

    import pandas as pd
    from mlflow.artifacts import download_artifacts
    text = open(download_artifacts(run_id=run_id, artifact_path=path, tracking_uri=client.tracking_uri)).read()
    return pd.read_csv(io.StringIO(text)).to_dict("records")


@pytest.mark.slow
def test_replay_on_the_surrogate_says_its_held_out_error(smoke_table, client, capsys):
    argv = ["replay", "--profile", "smoke", "--table", str(smoke_table), "--datasets", "digits", "--repetitions", "3"]
    assert main([*argv, "--lookup", "forest"]) == 2
    assert capsys.readouterr().err.strip() == "hpo replay: error: --lookup 'forest': use one of nearest, surrogate"
    assert main([*argv, "--lookup", "surrogate"]) == 0
    assert "surrogate of digits: mean absolute error on held-out configurations" in capsys.readouterr().out
    study = client.get_run(tracking.last_study_record()["run_id"])
    assert study.data.tags["lookup"] == "surrogate" and study.info.status == "FINISHED"
    assert 0 < study.data.metrics["surrogate_val_mae_at_R_digits"] < 1


@pytest.mark.slow
def test_replay_reads_the_shipped_table_where_none_was_recorded_here(smoke_table, client, tmp_path, monkeypatch):
    shipped = tmp_path / "tables"
    recorded.save(recorded.load(smoke_table), shipped / "smoke-seed0.json.gz")
    monkeypatch.setattr(recorded, "SHIPPED_DIR", shipped)
    monkeypatch.chdir(tmp_path)  # no recorded/ here
    assert main(["replay", "--profile", "smoke", "--datasets", "digits", "--repetitions", "2"]) == 0
    study = client.get_run(tracking.last_study_record()["run_id"])
    assert study.data.tags["table"] == str(shipped / "smoke-seed0.json.gz")
    assert study.data.tags["table_checksum"] == recorded.load(smoke_table).checksum  # the same table, compressed
