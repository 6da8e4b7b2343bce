"""Grid, random and TPE: the configurations they propose, their budgets, their seeds."""

import pytest

from hpo.budget import Budget
from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Outcome
from hpo.profiles import load_profile
from hpo.search.loop import run_search
from hpo.search.random import random_search
from hpo.search.registry import entry
from hpo.search.tpe import tpe

PAPER = load_profile("paper")
FIXED = {"input_size": 256, "batch_size": 16}


def run(method, score=lambda config: 0.5):
    budget = Budget(PAPER.budget.epochs)
    result = run_search(method, budget, SimulatedDriver(lambda job: Outcome(score(job.config), 0.0, job.epochs)),
                        progress=None)
    return [job for job, _ in result.jobs], budget


def test_grid_trains_each_of_the_16_points_for_25_epochs():
    jobs, budget = run(entry("grid").build(PAPER, 0, FIXED))
    points = {(j.config["learning_rate"], j.config["optimizer"], j.config["fine_tuned_layers"], j.config["dropout"])
              for j in jobs}
    assert points == {(lr, o, k, 0.2) for lr in (0.001, 0.01) for o in ("adam", "rmsprop") for k in (9, 14, 18, 132)}
    assert len(jobs) == 16 and all(j.epochs == 25 for j in jobs) and budget.spent == 400


@pytest.mark.parametrize("name", ["random", "tpe"])
def test_sixteen_configurations_of_25_epochs_in_the_applied_space(name):
    jobs, budget = run(entry(name).build(PAPER, 0, FIXED), score=lambda c: 1 - abs(c["learning_rate"] - 0.003))
    assert len(jobs) == 16 and budget.spent == 400
    for j in jobs:
        c = j.config
        assert 1e-4 <= c["learning_rate"] <= 0.03 and 0.01 <= c["dropout"] <= 0.4
        assert c["optimizer"] in ("adam", "adadelta", "rmsprop", "sgd") and c["fine_tuned_layers"] in (9, 14, 18, 132)
        assert (c["input_size"], c["batch_size"]) == (256, 16)


def test_tpe_starts_with_exactly_4_random_configurations():
    tpe_jobs, _ = run(tpe(PAPER, 7), score=lambda c: c["learning_rate"] * 10)
    random_jobs, _ = run(random_search(PAPER, 7), score=lambda c: c["learning_rate"] * 10)
    assert [j.config for j in tpe_jobs[:4]] == [j.config for j in random_jobs[:4]]
    assert tpe_jobs[4].config != random_jobs[4].config  # from the fifth on, TPE models the scores


@pytest.mark.parametrize("name", ["grid", "random", "tpe", "asha"])
def test_same_seed_same_configuration_sequence(name):
    first, _ = run(entry(name).build(PAPER, 11, FIXED))
    again, _ = run(entry(name).build(PAPER, 11, FIXED))
    assert [j.config for j in first] == [j.config for j in again]


def test_tpe_tolerates_failed_trials():
    jobs, _ = run(tpe(PAPER, 0), score=lambda c: float("nan") if c["optimizer"] == "sgd" else 0.7)
    assert len(jobs) == 16
