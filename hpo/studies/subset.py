"""`subset` (Study III, Table 7, Fig. 2): ASHA (N_m = 2) searches the applied space on each
variant of the training data, then the best configuration of each variant is trained on the whole
training set and scored on the target's balanced test set.

Variants (data from `prepare`, see hpo/data/subsets.py): the balanced subset; the imbalanced
subset; the imbalanced subset with class weights in the loss (hpo.data.subsets.class_weights);
the imbalanced subset augmented offline (4x its training images); both of these; and the whole
training set. ASHA validates each variant on its own subset's validation images, drawn like its
training images (the balanced variant on balanced ones, the imbalanced ones on imbalanced ones),
and draws its configurations from the same seeded sequence in every variant, so the variants
differ only in their data.

Run tree: study run (artifacts subsets.json with every subset's class counts, table7.md/.csv) ->
one child per variant (tags `variant`, `dataset`, `variant_label` in Table 7's wording; artifact
class_counts.json of its data and class weights; the best configuration as params;
`best_val_accuracy`, `budget_used_epochs`, `n_trials`, `test_accuracy` of the final training) ->
ASHA's trials as grandchildren, plus the final training (tag `final` = true). The final training
uses the whole training set as it is, without class weights or augmentation, for every variant:
the variants differ only in the configuration they chose.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial

import keras
import numpy as np
import pandas as pd

from hpo import mlflow_ui, tracking
from hpo.data.prepared import check_prepared, require_prepared
from hpo.data.subsets import class_weights
from hpo.errors import UserError
from hpo.executor import worker
from hpo.executor.drivers import IN_PROCESS, Engine
from hpo.executor.trials import MethodTrials
from hpo.executor.worker import TrialSpec
from hpo.jobs import Job, Outcome
from hpo.report import captions, tables
from hpo.search import registry
from hpo.search.asha import asha
from hpo.studies.failures import Failures
from hpo.studies.searching import Repetition, check_request, checkpoint_root, remove_checkpoints, search
from hpo.studies.skeleton import open_study
from hpo.studies.writable import check_checkpoints


@dataclass(frozen=True)
class Variant:
    name: str  # the `variant` tag
    label: str  # Table 7's wording
    subset: str  # the prepared subset it trains on (hpo.data.subsets.SUBSETS)
    weighted: bool  # class weights in the loss


VARIANTS = (
    Variant("balanced", "balanced", "balanced", False),
    Variant("imbalanced", "imbalanced", "imbalanced", False),
    Variant("imbalanced_weighted", "imbalanced & class weighting", "imbalanced", True),
    Variant("imbalanced_augmented", "imbalanced & augmentation", "imbalanced_augmented", False),
    Variant("imbalanced_weighted_augmented", "imbalanced & class weighting & augmentation",
            "imbalanced_augmented", True),
    Variant("whole", "whole training set", "whole", False),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)


@dataclass
class VariantResult:
    variant: str
    dataset: str
    budget_used: int
    n_trials: int
    n_failed: int
    best_val: float  # on the variant's own validation images
    best_config: dict | None
    test_accuracy: float  # of the best configuration trained on the whole training set
    best_run_name: str = ""  # the run of ASHA's best trial on the variant


def check_variants(profile, variants: list[str] | None) -> list[Variant]:
    if profile.subset is None:
        raise UserError(f"profile {profile.name} has no `subset` section: Study III needs one "
                        f"(see profiles/smoke.yaml)")
    names = list(variants or VARIANT_NAMES)
    unknown = [v for v in names if v not in VARIANT_NAMES]
    if unknown or not names:
        raise UserError(f"unknown variant {', '.join(unknown) or '(none)'}: choose from {', '.join(VARIANT_NAMES)}")
    return [v for v in VARIANTS if v.name in names]


def _class_counts(manifest: dict, variant: Variant) -> dict:
    """Sizes and class counts of the variant's data as `prepare` recorded them, and its class
    weights (Eq. 1) where the loss uses them: the workers load the data, the stage only reports it."""
    entry = manifest["subsets"]["sets"][variant.subset]
    counts = {k: v for k, v in entry.items() if k not in ("checksum", "file")}
    if variant.weighted:
        counts["class_weight"] = [float(w) for w in class_weights(np.asarray(entry["train_class_counts"]))]
    return counts


def _final_training(variant: Variant, config: dict, profile, repetition: Repetition, epochs: int,
                    tags: dict[str, str]) -> Outcome:
    """Fig. 2's last step as a grandchild run: the configuration trained on the whole training
    set and scored on the balanced test set (read back if the store holds it). Its test accuracy
    is NaN when the training fails; the study goes on."""
    tags = {**tags, "final": "true", "variant": variant.name, "dataset": profile.subset.dataset}
    trials = MethodTrials(tracking.active_run_id(), "final", tags,
                          partial(TrialSpec, profile=profile, prepare_seed=repetition.seed,
                                  dataset=profile.subset.dataset, subset="whole"),
                          repetition.search_seed, name=f"final {variant.name}")
    driver = IN_PROCESS.driver(trials.launch)  # here, whatever the engine: one job, nothing beside it
    driver.submit(Job(0, config, 0, epochs), -math.inf)  # trial 0: it trains with the search seed
    [(_, outcome)] = driver.results()
    if outcome.error:
        print(f"[{profile.subset.dataset} {variant.name}] final training FAILED ({outcome.error})", flush=True)
    return outcome


def table(results: list[VariantResult]) -> pd.DataFrame:
    """The Table 7 analogue: per variant, the configuration ASHA chose on it and that
    configuration's test accuracy when trained on the whole training set."""
    return tables.table7_frame((r.dataset, r.variant, r.best_config or {}, r.test_accuracy) for r in results)


def _description(profile, repetition: Repetition, chosen: list[Variant], caption: str, markdown: str,
                 results: list[VariantResult], tags: dict[str, str]) -> str:
    seed = repetition.seed
    command = mlflow_ui.reproduce_command("subset", profile, seed, variants=",".join(v.name for v in chosen),
                                          **repetition.command_parameters())
    best = [mlflow_ui.best_trial_line(f"{r.dataset} {r.variant}", r.best_run_name, r.best_val, r.test_accuracy,
                                      test_of="test after the final training")
            for r in results]
    searched = f" (search seed {repetition.search_seed})" if repetition.repeated else ""
    return mlflow_ui.study_description(f"Study III (subset): profile {profile.name}, seed {seed}{searched}, ASHA on "
                                       "each variant", profile, [(caption, markdown)], best, command, tags)


def run_subset(profile, seed: int, variants: list[str] | None = None, restart: bool = False,
               search_seed: int | None = None, engine: Engine = IN_PROCESS) -> list[VariantResult]:
    """Study III; `search_seed` (default `seed`): a repetition of the searches on the same subsets."""
    repetition = Repetition(seed, seed if search_seed is None else search_seed)
    chosen = check_variants(profile, variants)
    spec, budget = profile.subset, profile.budget.epochs
    check_request(profile, [spec.dataset], [registry.STUDY_III], budget)
    check_checkpoints()
    prepared, manifest = require_prepared(profile, seed)
    if "subsets" not in manifest:
        raise UserError(f"the prepared data of profile {profile.name} has no subsets: "
                        f"run `hpo prepare --profile {profile.argument} --seed {seed} --force`")
    check_prepared(profile, seed, [], list(dict.fromkeys([*(v.subset for v in chosen), "whole"])))
    worker.backbone(profile, seed)()  # loaded now: a missing or damaged backbone fails before any run
    # The final training runs R epochs: the longest any configuration trains in ASHA, so the
    # chosen configuration is trained as long as it was when it was chosen (on more images).
    final_epochs = profile.asha.R
    opened = open_study("subset", profile, repetition, manifest["data_checksum"],
                        key={"variants": [v.name for v in chosen]},
                        tags={"datasets": spec.dataset, "variants": ",".join(v.name for v in chosen),
                              "budget_epochs": str(budget)})
    results, failures = [], Failures()
    started = time.perf_counter()
    with opened.run(restart) as study_run:
        trial_tags = opened.trial_tags
        tracking.log_params({"max_trials_at_R": spec.max_trials_at_R, "final_epochs": final_epochs,
                             "budget_epochs": budget})
        tracking.log_dict(manifest["subsets"], "subsets.json")  # every subset's sizes and class counts
        used = dict.fromkeys([*(v.subset for v in chosen), "whole"])  # "whole": the final trainings'
        tracking.log_inputs([i for name in used for i in mlflow_ui.subset_inputs(prepared, manifest, name)])
        for variant in chosen:
            variant_tags = {"variant": variant.name, "dataset": spec.dataset, "variant_label": variant.label,
                            tracking.STUDY_KEY: opened.key}
            with tracking.child_run(f"{variant.name} {spec.dataset}", variant_tags, reopen=True):
                keras.backend.clear_session()
                tracking.log_inputs([i for name in dict.fromkeys([variant.subset, "whole"])
                                     for i in mlflow_ui.subset_inputs(prepared, manifest, name)])
                counts = _class_counts(manifest, variant)
                tracking.log_dict(counts, "class_counts.json")
                tracking.log_params({"train_images": counts["train"], "val_images": counts["val"],
                                     "weighted": variant.weighted, "subset": variant.subset})
                policy = asha(profile, repetition.search_seed, max_trials_at_R=spec.max_trials_at_R)
                found = search(policy, budget, profile, seed, spec.dataset, {**trial_tags, "variant": variant.name},
                               f"{spec.dataset} {variant.name}", checkpoint_root(study_run.info.run_id) / variant.name,
                               subset=variant.subset, weighted=variant.weighted, search_seed=repetition.search_seed,
                               engine=engine)
                metrics = {"budget_used_epochs": found.budget_used, "n_trials": len(found.trials),
                           "n_failed": found.n_failed, "best_val_accuracy": found.best_val,
                           "best_test_accuracy": found.best_test, "n_recorded_jobs": found.recorded}
                test_accuracy, final = math.nan, []
                if found.best_config:
                    tracking.log_params(found.best_config)
                    tracking.log_dict(found.best_config, "best_config.json")
                    final = [_final_training(variant, found.best_config, profile, repetition, final_epochs,
                                             trial_tags)]
                    test_accuracy = math.nan if final[0].error else final[0].test_accuracy
                failures.add(f"variant {variant.name} of {spec.dataset}", found.jobs, final)
                tracking.log_metrics({**metrics, "test_accuracy": test_accuracy})
                print(f"[{spec.dataset} {variant.name}] best val {found.best_val:.4f} on the variant, "
                      f"test {test_accuracy:.4f} after {final_epochs} epochs on the whole training set", flush=True)
            results.append(VariantResult(variant.name, spec.dataset, found.budget_used, len(found.trials),
                                         found.n_failed, found.best_val, found.best_config, test_accuracy,
                                         mlflow_ui.best_trial_run_name(found)))
        frame = table(results)
        markdown = tables.markdown(frame)
        tracking.log_text(markdown + "\n", "table7.md")
        tracking.log_text(tables.csv_text(frame), "table7.csv")
        caption = captions.table7_of_study(spec.max_trials_at_R, final_epochs, spec.dataset)
        tracking.set_description(_description(profile, repetition, chosen, caption, markdown, results, opened.tags))
        wall = time.perf_counter() - started
        tracking.log_metrics({"wall_seconds": wall})
        if failures.fatal():  # everything is recorded; the study run ends FAILED
            remove_checkpoints(study_run.info.run_id)
            raise failures.error()
    remove_checkpoints(study_run.info.run_id)
    print(f"\nsubset took {wall:.0f} s\n\n{caption}\n")
    print(markdown, flush=True)
    if failures.summary():
        print(f"\n{failures.summary()}", flush=True)
    return results
