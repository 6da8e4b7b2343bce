"""The driver's side of a trial: its run created, reopened or read back."""

from functools import partial

from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from hpo.executor.trials import MethodTrials
from hpo.executor.worker import TrialSpec
from hpo.jobs import Job

CONFIG = {"learning_rate": 0.003, "dropout": 0.1, "optimizer": "adam", "fine_tuned_layers": 9, "input_size": 32,
          "batch_size": 32}


def test_a_trial_run_left_without_its_parameters_gets_them_and_trains(client):
    """A stop between creating a trial's run and writing its parameters (a store outage, a kill)
    leaves a run with none: the rerun writes them and trains the job, not refuse the store."""
    parent = client.create_run(client.create_experiment("trials-test"))
    experiment = parent.info.experiment_id
    tags = {MLFLOW_PARENT_RUN_ID: parent.info.run_id, "method": "random", "trial": "0"}
    bare = client.create_run(experiment, tags=tags, run_name="random trial 0").info.run_id
    bound = partial(TrialSpec, profile=None, prepare_seed=0, dataset="digits")
    trials = MethodTrials(parent.info.run_id, "random", {}, bound, search_seed=0)
    spec = trials.launch(Job(0, CONFIG, 0, 2))
    assert isinstance(spec, TrialSpec) and spec.run_id == bare
    assert client.get_run(bare).data.params == {k: str(v) for k, v in CONFIG.items()}
