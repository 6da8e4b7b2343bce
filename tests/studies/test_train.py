import importlib.util
import os
import subprocess
import sys

import pytest

from hpo import tracking
from hpo.errors import UserError
from hpo.studies.train import default_config, run_train

pytestmark = pytest.mark.slow


def _runs(client, experiment="train", query=""):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], query) if exp else []


def test_train_logs_one_finished_run_with_epoch_metrics(smoke_prepared, client):
    profile, manifest = smoke_prepared
    config = default_config(profile, fine_tuned_layers=9)
    result = run_train(profile, 0, "digits", config, epochs=3)
    run = _runs(client, query="tags.dataset = 'digits'")[0]
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.step for m in history] == [1, 2, 3]
    assert history[-1].value == pytest.approx(result.val_accuracy)
    for name in ("train_loss", "train_accuracy", "val_loss"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, name)] == [1, 2, 3]
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert run.data.params["fine_tuned_layers"] == "9" and run.data.params["optimizer"] == "adam"
    assert float(run.data.params["learning_rate"]) == config["learning_rate"]
    tags = run.data.tags
    assert tags["profile"] == "smoke" and tags["seed"] == "0" and tags["stage"] == "train"
    assert tags["data_checksum"] == manifest["data_checksum"] and tags["git_commit"]
    assert tags["version.keras"] and tags["version.mlflow"] and tags["version.python"]
    digest = manifest["datasets"]["digits"]["checksum"][:12]
    assert {(i.dataset.name, i.dataset.digest) for i in run.inputs.dataset_inputs} == {
        ("digits train", digest), ("digits val", digest), ("digits test", digest)}
    assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hpo", *args], capture_output=True, text=True, env=os.environ,
                          timeout=300)


@pytest.mark.parametrize("args,message", [
    (["--optimizer", "nesterov"], "unknown optimizer 'nesterov'"),
    (["--learning-rate", "0"], "argument --learning-rate: expected a learning rate above 0 and at most 10, got '0'"),
    (["--learning-rate", "-0.1"], "expected a learning rate above 0 and at most 10, got '-0.1'"),
    (["--learning-rate", "1e308"], "expected a learning rate above 0 and at most 10, got '1e308'"),
    (["--dropout", "1.0"], r"dropout must lie in [0, 1)"),
    (["--fine-tuned-layers", "43"], "fine_tuned_layers=43 is larger than the compact backbone (42 layers)"),
    (["--dataset", "cifar100"], "dataset 'cifar100' is not in profile smoke"),
    (["--input-size", "16"], "input_size=16 is below the compact minimum of 32"),
])
def test_bad_input_is_one_line_and_leaves_no_running_run(smoke_prepared, client, args, message):
    before = len(_runs(client))
    done = _cli("train", "--profile", "smoke", "--epochs", "1", *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpo train: error: ") and message in lines[0], done.stderr
    assert len(_runs(client)) == before
    assert not _runs(client, query="attributes.status = 'RUNNING'")


def test_missing_dataset_and_malformed_profile(tmp_path, smoke_prepared):
    done = _cli("train", "--profile", "smoke", "--seed", "99")
    assert done.returncode == 2 and "run `hpo prepare --profile smoke --seed 99` first" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(open(smoke_prepared[0].source_file).read().replace("eta: 2", "eta: 1"))
    done = _cli("prepare", "--profile", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("asha.eta: Input should be greater than or equal to 2 (got 1)")


def test_a_failure_inside_a_run_marks_it_failed(client, smoke_profile):
    with pytest.raises(RuntimeError):
        with tracking.stage_run("train", "doomed", {"dataset": "none", "purpose": "failure-test"}):
            raise RuntimeError("disk on fire")
    run = _runs(client, query="tags.purpose = 'failure-test'")[0]
    assert run.info.status == "FAILED" and run.data.tags["error"] == "RuntimeError: disk on fire"
    with pytest.raises(KeyboardInterrupt):
        with tracking.stage_run("train", "interrupted", {"purpose": "interrupt-test"}):
            raise KeyboardInterrupt
    assert _runs(client, query="tags.purpose = 'interrupt-test'")[0].info.status == "KILLED"


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_trial_under_another_keras_backend_without_tensorflow(smoke_prepared, client, tmp_path, backend):
    """A GPU machine may have PyTorch or JAX but no TensorFlow: the trial runs with
    KERAS_BACKEND=<backend> while `import tensorflow` fails."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (`make test` installs torch)")
    hidden = tmp_path / "hidden" / "tensorflow"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('tensorflow is hidden from this test')\n")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(hidden.parent)}
    done = subprocess.run([sys.executable, "-m", "hpo", "train", "--profile", "smoke", "--dataset", "fashion",
                           "--fine-tuned-layers", "9", "--epochs", "1"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    run = _runs(client, query=f"tags.keras_backend = '{backend}'")[0]
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1]
    assert run.data.metrics["test_accuracy"] > 0.3  # 5 classes: well above chance after one epoch
    assert run.data.tags[f"version.{backend}"]


def test_a_diverging_training_is_one_line_and_a_failed_run(smoke_prepared, client):
    profile, _ = smoke_prepared
    config = default_config(profile, learning_rate=1.0e12, fine_tuned_layers=9)  # past the CLI's limit of 10
    with pytest.raises(UserError, match=r"^the training diverged: loss became nan at epoch 1: try a lower "
                                        r"learning rate$"):
        run_train(profile, 0, "digits", config, epochs=2)
    run = _runs(client, query="tags.dataset = 'digits'")[0]
    assert run.info.status == "FAILED" and run.data.tags["error"].startswith("TrainingDiverged: loss became nan")
