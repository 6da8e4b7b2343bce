import json
import math

import numpy as np
import pytest

from hpo.data.prepared import load_prepared, load_subset
from hpo.data.splits import class_counts
from hpo.errors import UserError
from hpo.profiles import load_profile, parse_profile
from hpo.studies.subset import VARIANT_NAMES, VariantResult, check_variants, run_subset, table


def _without_subset(text: str) -> str:
    start = text.index("\nsubset:")
    end = text.find("\n\n", start + 1)
    return text[:start] + (text[end:] if end >= 0 else "\n")


def test_unknown_variant_and_a_profile_without_the_section_are_refused(smoke_profile):
    with pytest.raises(UserError, match="unknown variant tiny: choose from balanced, imbalanced"):
        check_variants(smoke_profile, ["balanced", "tiny"])
    with pytest.raises(UserError, match="profile paper-nosubset has no `subset` section"):
        text = load_profile("paper").source_file
        check_variants(parse_profile(_without_subset(open(text).read()).replace("name: paper", "name: paper-nosubset")),
                       None)
    assert [v.name for v in check_variants(smoke_profile, ["whole", "balanced"])] == ["balanced", "whole"]


def test_table7_lists_the_configuration_and_test_accuracy_per_variant():
    config = {"learning_rate": 0.012345678, "dropout": 0.123456, "optimizer": "adam", "fine_tuned_layers": 14,
              "input_size": 32, "batch_size": 32}
    frame = table([VariantResult("balanced", "fashion", 16, 8, 0, 0.7, config, 0.81234),
                   VariantResult("whole", "fashion", 16, 8, 8, math.nan, None, math.nan)])
    assert list(frame.columns) == ["dataset", "variant", "learning rate", "dropout", "optimizer",
                                   "fine-tuned layers", "test accuracy"]  # the report's Table 7, the same function
    assert frame.iloc[0].tolist() == ["fashion", "balanced", 0.01235, 0.1235, "adam", 14, 0.8123]
    assert frame.iloc[1]["fine-tuned layers"] == "" and math.isnan(frame.iloc[1]["learning rate"])
    assert frame.iloc[1]["variant"] == "whole" and math.isnan(frame.iloc[1]["test accuracy"])


@pytest.mark.slow
def test_prepared_subsets_have_the_stated_counts_and_the_balanced_test_set(smoke_prepared):
    profile, manifest = smoke_prepared
    sets = manifest["subsets"]["sets"]
    assert manifest["subsets"]["dataset"] == "fashion"
    assert sets["whole"]["train_class_counts"] == [200, 100, 50, 30, 20] and sets["whole"]["val"] == 100
    assert sets["balanced"]["train_class_counts"] == [16] * 5 and sets["balanced"]["val_class_counts"] == [4] * 5
    assert sets["imbalanced"]["train_class_counts"] == [40, 20, 10, 6, 4] and sets["imbalanced"]["val"] == 20
    assert sets["imbalanced_augmented"]["train_class_counts"] == [160, 80, 40, 24, 16]
    target, _ = load_prepared(profile, 0, "fashion")
    for name in sets:
        data, _ = load_subset(profile, 0, name)
        assert data.name == "fashion" and np.array_equal(data.x_test, target.x_test)  # the target's test set
        assert class_counts(data.y_test, 5).tolist() == [20] * 5
        test_images = {x.tobytes() for x in data.x_test}
        assert not any(x.tobytes() in test_images for x in np.concatenate([data.x_train, data.x_val]))


@pytest.mark.slow
def test_subset_stage_end_to_end(smoke_prepared, client):
    """Every variant: ASHA with N_m = 2 under the smoke budget, then the final training on the
    whole training set scored on the balanced test set, one child run each."""
    profile, manifest = smoke_prepared
    results = run_subset(profile, seed=0)
    assert [r.variant for r in results] == list(VARIANT_NAMES)
    assert all(0 <= r.test_accuracy <= 1 and r.budget_used <= profile.budget.epochs for r in results)

    experiment = client.get_experiment_by_name("subset")
    study = client.search_runs([experiment.experiment_id],
                               "tags.study = 'subset-smoke-seed0' and tags.stage = 'subset'")[0]
    assert study.info.status == "FINISHED" and study.data.tags["data_checksum"] == manifest["data_checksum"]
    artifacts = {a.path for a in client.list_artifacts(study.info.run_id)}
    assert {"table7.md", "table7.csv", "subsets.json"} <= artifacts
    table7 = open(client.download_artifacts(study.info.run_id, "table7.md")).read()
    description = study.data.tags["mlflow.note.content"]
    assert table7.strip() in description and "-P variants=" + ",".join(VARIANT_NAMES) in description
    assert all(f"- fashion {v}: `asha trial " in description for v in VARIANT_NAMES)
    used = {i.dataset.name for i in study.inputs.dataset_inputs}
    assert used == {f"fashion {s} {split}" for s in ("balanced", "imbalanced", "imbalanced_augmented", "whole")
                    for split in ("train", "val", "test")}
    children = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{study.info.run_id}'")
    assert sorted(c.data.tags["variant"] for c in children) == sorted(VARIANT_NAMES)
    for child in children:
        assert child.data.tags["dataset"] == "fashion"
        assert 0 <= child.data.metrics["test_accuracy"] <= 1
        assert {"best_val_accuracy", "budget_used_epochs", "n_trials"} <= set(child.data.metrics)
        assert {"learning_rate", "dropout", "optimizer", "fine_tuned_layers"} <= set(child.data.params)
        assert "class_counts.json" in {a.path for a in client.list_artifacts(child.info.run_id)}
        subset = child.data.params["subset"]
        assert {i.dataset.name for i in child.inputs.dataset_inputs} == {
            f"fashion {s} {split}" for s in {subset, "whole"} for split in ("train", "val", "test")}
        runs = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{child.info.run_id}'")
        final = [r for r in runs if r.data.tags.get("final") == "true"]
        trials = [r for r in runs if r.data.tags.get("method") == "asha"]
        assert len(final) == 1 and len(trials) == child.data.metrics["n_trials"] and len(runs) == len(trials) + 1
        assert final[0].data.metrics["test_accuracy"] == child.data.metrics["test_accuracy"]
        assert final[0].data.metrics["epochs"] == profile.asha.R
        assert all(t.data.tags["variant"] == child.data.tags["variant"] for t in trials)
    weighted = next(c for c in children if c.data.tags["variant"] == "imbalanced_weighted")
    counts = json.loads(open(client.download_artifacts(weighted.info.run_id, "class_counts.json")).read())
    assert counts["train_class_counts"] == [40, 20, 10, 6, 4] and counts["class_weight"][0] == 1.0
    assert all(w > 1 for w in counts["class_weight"][1:])
