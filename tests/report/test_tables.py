"""The report's tables from study runs given as plain data (no tracking store)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from hpo.report import tables
from hpo.report.queries import Point, RunData

NAN = math.nan


def run(tags=None, metrics=None, params=None, children=(), histories=None, start=0, run_id=None, status="FINISHED"):
    run.counter = getattr(run, "counter", 0) + 1
    return RunData(run_id or f"r{run.counter:03d}", "1", "", status, start, dict(tags or {}), dict(params or {}),
                   dict(metrics or {}), list(children), dict(histories or {}))


def trial(number, vals, timestamps, status="FINISHED"):
    return run({"trial": str(number)}, {"val_accuracy": vals[-1]}, status=status,
               histories={"val_accuracy": [Point(t, s, v)
                                           for s, (t, v) in enumerate(zip(timestamps, vals, strict=True), 1)]})


def method(dataset, name, best_val, best_test, trials=(), start=0, **metrics):
    return run({"dataset": dataset, "method": name}, {"best_val_accuracy": best_val, "best_test_accuracy": best_test,
                                                     **metrics}, children=trials, start=start)


def compare_study(*children, datasets="fashion,digits"):
    return run({"stage": "compare", "datasets": datasets, "budget_epochs": "8"}, children=children)


def test_table6_orders_datasets_as_run_and_methods_as_the_paper():
    study = compare_study(method("digits", "asha", 0.9, 0.88), method("fashion", "asha", 0.75, 0.7),
                          method("fashion", "grid", 0.8, 0.79), method("digits", "grid", 0.6, NAN))
    frame = tables.table6(study)
    assert list(frame.columns) == ["dataset", "grid val", "grid test", "asha val", "asha test", "max difference"]
    assert frame["dataset"].tolist() == ["fashion", "digits"]
    assert frame.iloc[0].tolist() == ["fashion", 0.8, 0.79, 0.75, 0.7, 0.05]
    assert frame.iloc[1, 1:4].tolist() == [0.6, pytest.approx(NAN, nan_ok=True), 0.9]
    assert frame.loc[1, "max difference"] == 0.3


def test_a_method_whose_trials_all_failed_shows_nan_and_is_left_out_of_the_difference():
    frame = tables.table6(compare_study(method("digits", "grid", 0.6, 0.5), method("digits", "tpe", NAN, NAN),
                                        datasets="digits"))
    assert math.isnan(frame.loc[0, "tpe val"]) and frame.loc[0, "max difference"] == 0


def test_a_pair_logged_twice_counts_once_the_later_run():
    study = compare_study(method("digits", "grid", 0.1, 0.1, start=1), method("digits", "grid", 0.6, 0.5, start=2),
                          datasets="digits")
    assert tables.table6(study)["grid val"].tolist() == [0.6]


def test_anytime_orders_every_epoch_of_every_trial_by_time_and_keeps_the_best():
    # ASHA-like interleaving: trial 0 epoch 1, trial 1 epoch 1, trial 0 epochs 2-3 (promoted)
    t0 = trial(0, [0.5, 0.4, 0.7], [10, 30, 40])
    t1 = trial(1, [0.6], [20])
    failed = trial(2, [NAN], [50], status="FAILED")
    frame = tables.anytime(compare_study(method("digits", "asha", 0.7, 0.6, [t1, failed, t0]), datasets="digits"))
    assert frame["epochs charged"].tolist() == [1, 2, 3, 4, 5]
    assert frame["trial"].tolist() == ["0", "1", "0", "0", "2"]
    assert frame["epoch"].tolist() == [1, 1, 2, 3, 1]
    assert frame["best val_accuracy"].tolist() == [0.5, 0.6, 0.6, 0.7, 0.7]  # a diverged epoch never leads


def test_budget_table_counts_the_logged_epochs():
    trials = [trial(0, [0.5, 0.6], [1, 2]), trial(1, [0.4], [3])]
    frame = tables.budget_table(compare_study(method("digits", "asha", 0.6, 0.5, trials, budget_used_epochs=3,
                                                     n_trials=2, n_failed=0, wall_seconds=1.23, train_seconds=1.0),
                                              datasets="digits"))
    row = frame.iloc[0]
    assert (row["budget"], row["epochs charged"], row["epochs logged"], row["trials"], row["failed trials"]) == (
        8, 3, 3, 2, 0)
    assert row["wall seconds"] == 1.2 and row["run id"].startswith("r")


def test_without_job_ends_the_best_trial_is_the_highest_last_epoch_of_a_finished_trial():
    a, b, c = trial(3, [0.9, 0.7], [1, 2]), trial(1, [0.7], [3]), trial(2, [0.95], [4], status="FAILED")
    assert tables.best_point(method("d", "grid", 0.7, 0.6, [a, b, c])) == (a, 2, 0.7)  # first to reach it
    assert tables.best_point(method("d", "grid", 0.9, 0.8, [c])) is None


def test_the_best_point_is_the_highest_score_at_the_end_of_any_job():
    # ASHA: trial 0 scored 0.9 at the end of rung 0 (epoch 1), then 0.6 after its promotion (epoch 4);
    # trial 1 reached 0.95 mid-job (epoch 2), which the method never saw, and 0.8 at its end
    t0 = trial(0, [0.9, 0.7, 0.6, 0.6], [10, 40, 50, 60])
    t0.histories["epochs"] = [Point(11, 0, 1), Point(61, 0, 4)]
    t1 = trial(1, [0.5, 0.95, 0.8], [20, 25, 30], status="FAILED")
    t1.histories["epochs"] = [Point(31, 0, 3)]  # then failed in its next job
    t2 = trial(2, [0.9], [70])
    t2.histories["epochs"] = [Point(71, 0, 1)]
    assert tables.job_ends(t0) == [(11, 1, 0.9), (61, 4, 0.6)]
    assert tables.best_point(method("d", "asha", 0.9, 0.8, [t2, t1, t0])) == (t0, 1, 0.9)


def test_importance_table_per_dataset_then_pooled_sorted_by_pooled():
    study = run({"stage": "importance", "datasets": "fashion,digits"},
                {"importance_lr": 0.2, "importance_std_lr": 0.01, "importance_dropout": 0.5,
                 "importance_std_dropout": 0.1},
                children=[run({"dataset": "digits"}, {"importance_lr": 0.3, "importance_dropout": 0.1}),
                          run({"dataset": "fashion"}, {"importance_lr": 0.6, "importance_dropout": 0.2}),
                          run({"dataset": "broken"}, {"n_trials": 2})])
    frame = tables.importance_table(study)
    assert list(frame.columns) == ["hyperparameter", "fashion", "fashion std", "digits", "digits std",
                                   "all datasets", "all datasets std"]
    assert frame["hyperparameter"].tolist() == ["dropout", "lr"]
    assert frame["all datasets"].tolist() == [0.5, 0.2] and frame["fashion"].tolist() == [0.2, 0.6]


def test_table4_from_the_stages_analyses_equals_table4_from_the_logged_metrics():
    analyses = [("digits", {"lr": (np.float64(0.30004), 0.01), "dropout": (0.1, 0.02)}),
                ("all datasets", {"lr": (0.2, 0.01), "dropout": (0.5, 0.1)})]
    study = run({"datasets": "digits"}, {"importance_lr": 0.2, "importance_std_lr": 0.01, "importance_dropout": 0.5,
                                         "importance_std_dropout": 0.1},
                children=[run({"dataset": "digits"}, {"importance_lr": 0.30004, "importance_std_lr": 0.01,
                                                      "importance_dropout": 0.1, "importance_std_dropout": 0.02})])
    frame = tables.table4_frame(analyses)
    assert frame.equals(tables.importance_table(study))
    assert tables.markdown(frame) == tables.markdown(tables.importance_table(study))
    assert frame["hyperparameter"].tolist() == ["dropout", "lr"] and frame["digits"].tolist() == [0.1, 0.3]


def test_table5_keeps_the_two_most_important_pairs_of_each_label():
    frame = tables.table5_frame([("digits", [("lr", "dropout", 0.31234), ("lr", "optimizer", 0.1),
                                             ("dropout", "optimizer", 0.01)]),
                                 ("all datasets", iter([("lr", "dropout", 0.2)]))])
    assert list(frame.columns) == ["dataset", "set 1", "set 1 importance", "set 2", "set 2 importance"]
    assert frame.loc[0].tolist() == ["digits", "lr & dropout", 0.312, "lr & optimizer", 0.1]
    assert frame.loc[1, "set 1"] == "lr & dropout" and math.isnan(frame.loc[1, "set 2 importance"])


def test_table7_reads_variant_runs_and_is_empty_without_them():
    params = {"learning_rate": "0.024912345", "dropout": "0.194123", "optimizer": "adam", "fine_tuned_layers": "132",
              "train_images": "500"}
    study = run({"stage": "subset", "datasets": "fashion"},
                children=[run({"variant": "imbalanced", "dataset": "fashion"}, {"test_accuracy": 0.76}, params,
                              start=2),
                          run({"variant": "balanced", "dataset": "fashion"}, {"test_accuracy": 0.85123}, params,
                              start=1)])
    frame = tables.table7(study)
    assert frame["variant"].tolist() == ["balanced", "imbalanced"]
    assert frame.iloc[0].tolist() == ["fashion", "balanced", 0.02491, 0.1941, "adam", 132, 0.8512]
    assert tables.table7(run({"stage": "subset"})).empty
    metrics = tables.headline_metrics(None, study)
    assert metrics == {"compare": {}, "subset": {"fashion": {"balanced": {"test_accuracy": 0.8512},
                                                             "imbalanced": {"test_accuracy": 0.76}}}}


def test_headline_metrics_schema():
    study = compare_study(method("digits", "grid", 0.9, 0.85, budget_used_epochs=16),
                          method("digits", "tpe", NAN, NAN, budget_used_epochs=4), datasets="digits")
    metrics = tables.headline_metrics(study, None)
    assert metrics == {"compare": {"digits": {
        "grid": {"best_val_accuracy": 0.9, "best_test_accuracy": 0.85, "epochs_charged": 16},
        "tpe": {"best_val_accuracy": None, "best_test_accuracy": None, "epochs_charged": 4}}}, "subset": {}}
    json.dumps(metrics, allow_nan=False)


def test_write_table_as_markdown_csv_and_latex(tmp_path):
    frame = pd.DataFrame({"dataset": ["digits_1"], "grid val": [0.9], "tpe val": [NAN]})
    md, csv, tex = tables.write_table(frame, tmp_path, "t", "A caption")
    assert [p.name for p in (md, csv, tex)] == ["t.md", "t.csv", "t.tex"]
    assert "| digits_1  |        0.9 |" in md.read_text()
    pd.testing.assert_frame_equal(pd.read_csv(csv), frame)
    latex = tex.read_text()
    assert r"\caption{A caption}" in latex and r"digits\_1 & 0.9 & -- \\" in latex
