"""What a study looks like in the MLflow UI: its experiment marked as model training, the prepared
splits as dataset inputs, a description holding the study's table, run names that say what a
trial is, links that open on the runs; and `hpo ui`, which serves a local store and prints the
address of the newest study."""

from __future__ import annotations

import json
import math
from pathlib import Path

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
DESCRIPTION_TAG = "mlflow.note.content"
LOCAL_UI = "http://127.0.0.1:5000"  # where `make ui` serves a local store
# MLflow 3.17's UI picks its GenAI or its model-training pages from this URL parameter, else from
# the browser's last choice (GenAI on a first visit), whatever the experiment's kind: every link
# the suite prints carries it, so that it opens on the runs.
MODEL_TRAINING_VIEW = "workflowType=machine_learning"
SPLITS = (("train", "training"), ("val", "validation"), ("test", "test"))  # manifest key, MLflow context


def experiment_url(base: str, experiment_id: str) -> str:
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}?{MODEL_TRAINING_VIEW}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}?{MODEL_TRAINING_VIEW}"


def short_number(value: float) -> str:
    """Two significant digits, as people write a learning rate: 3e-3, 2.5e-4, 0.024, 0.1."""
    if 0.01 <= abs(value) < 100:
        return f"{value:.2g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def trial_run_name(method: str, trial: int, config: dict) -> str:
    """`asha trial 12 · k=18 adam lr=3e-3`: the method, the trial and its key hyperparameters."""
    keys = []
    if "fine_tuned_layers" in config:
        keys.append(f"k={config['fine_tuned_layers']}")
    if "optimizer" in config:
        keys.append(str(config["optimizer"]))
    if "learning_rate" in config:
        keys.append(f"lr={short_number(float(config['learning_rate']))}")
    return f"{method} trial {trial}" + (f" · {' '.join(keys)}" if keys else "")


def best_trial_run_name(result) -> str:
    """The run name of a search's best trial (a SearchResult), or '' if no trial finished."""
    best = result.best
    return trial_run_name(result.method, best[0].trial, best[0].config) if best else ""


def split_inputs(name: str, entry: dict, source: Path) -> list:
    """MLflow dataset inputs for the train, validation and test splits of one prepared dataset
    (or subset) as the manifest describes it: digest = its checksum (as the report shortens it),
    profile = its size and class counts, source = the prepared file."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    inputs = []
    for split, context in SPLITS:
        profile = {"num_rows": entry[split], "class_counts": entry.get(f"{split}_class_counts", [])}
        dataset = Dataset(name=f"{name} {split}", digest=entry["checksum"][:12], source_type="local",
                          source=json.dumps({"uri": str(source)}), profile=json.dumps(profile))
        inputs.append(DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)]))
    return inputs


def dataset_inputs(directory: Path, manifest: dict, dataset: str) -> list:
    """The dataset inputs of one prepared target dataset."""
    return split_inputs(dataset, manifest["datasets"][dataset], directory / f"{dataset}.npz")


def subset_inputs(directory: Path, manifest: dict, subset: str) -> list:
    """The dataset inputs of one prepared Study III subset (named after its target dataset)."""
    entry = manifest["subsets"]["sets"][subset]
    return split_inputs(f"{manifest['subsets']['dataset']} {subset}", entry, directory / entry["file"])


def _score(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def best_trial_line(label: str, run_name: str | None, val: float, test: float, test_of: str = "test") -> str:
    if not run_name:
        return f"- {label}: no trial finished"
    return f"- {label}: `{run_name}`, validation {_score(val)} ({test_of} {_score(test)})"


def reproduce_command(stage: str, profile, seed: int, **parameters) -> str:
    """The `mlflow run` command that trains this study again from scratch (same seed: same runs)."""
    given = {"profile": profile.argument, "seed": seed, **parameters, "restart": "yes"}
    return f"mlflow run . -e {stage} " + " ".join(f"-P {k}={v}" for k, v in given.items())


def study_description(title: str, profile, sections: list[tuple[str, str]], best_lines: list[str], command: str,
                      tags: dict[str, str]) -> str:
    """The study run's description (Markdown): its tables, the best trial of each search, and how
    to run it again."""
    parts = [f"**{title}**"]
    for caption, markdown in sections:
        parts += [caption, markdown.strip()]
    if best_lines:
        parts.append("Best trial of each search (its run is nested under the search's run):\n\n"
                     + "\n".join(best_lines))
    parts.append(f"Reproduce at commit `{tags.get('git_commit', 'unknown')[:12]}` (data checksum "
                 f"`{tags.get('data_checksum', '')[:12]}`):\n\n```\n{command}\n```")
    parts.append(f"Every study's tables and figures: `mlflow run . -e report -P profile={profile.argument}` writes "
                 "`reports/index.html`.")
    return "\n\n".join(parts) + "\n"
