"""ASHA driven by synthetic learning curves, no training (as Ray Tune tests its scheduler)."""

import math

import numpy as np
import pytest

from hpo.budget import Budget
from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Outcome
from hpo.profiles import load_profile
from hpo.search.asha import Asha, asha, milestones
from hpo.search.base import DONE, Searcher
from hpo.search.loop import run_search


def drive(method, curve, budget_total=400):
    """Run the method to its end with one worker: curve(config, epoch) is the score a trial
    reaches at `epoch`."""
    def outcome(job):
        if job.rung:  # a promotion takes a trial from the top 1/eta of the rung below, as it stood when handed out
            below = method.scores[job.rung - 1]
            top = sorted(below, key=lambda t: (-below[t], t))[: len(below) // method.eta]
            assert job.trial in top and job.start == method.rungs[job.rung - 1]
        return Outcome(curve(job.config, job.stop), 0.0, job.epochs)

    budget = Budget(budget_total)
    result = run_search(method, budget, SimulatedDriver(outcome), progress=None)
    return [job for job, _ in result.jobs], budget


class Qualities(Searcher):
    """Configurations {"q": quality} in a given order."""

    def __init__(self, qualities):
        self.qualities = iter(qualities)

    def suggest(self, trial):
        return {"q": next(self.qualities)}


def sampler(qualities):
    return Qualities(qualities)


def test_rung_milestones_use_integer_arithmetic():
    assert milestones(1, 16, 4, 0) == [1, 4, 16]
    assert milestones(1, 243, 3, 0) == [1, 3, 9, 27, 81, 243]  # float logs give 4.9999 rungs here
    assert milestones(1, 16, 4, 1) == [4, 16]
    assert milestones(2, 20, 3, 0) == [2, 6, 18]
    with pytest.raises(ValueError):
        milestones(5, 4, 2, 0)


def test_hand_computed_trace_of_a_small_case():
    method = Asha(sampler([0.5, 0.7, 0.6, 0.9, 0.4, 0.8]), r=1, R=4, eta=2, s=0, max_trials_at_R=1)
    jobs, budget = drive(method, lambda c, epoch: c["q"] + 0.01 * epoch)
    assert [(j.trial, j.start, j.stop, j.rung) for j in jobs] == [
        (0, 0, 1, 0),  # rung 0 holds one trial: its top half is empty, so start a new one
        (1, 0, 1, 0),
        (1, 1, 2, 1),  # top 1/2 of {0: .51, 1: .71} is trial 1: promoted, resumes at epoch 1
        (2, 0, 1, 0),  # top 1/2 of three trials is still only trial 1, already promoted
        (3, 0, 1, 0),
        (3, 1, 2, 1),  # four trials at rung 0: top 2 are 3 and 1; 3 is not yet promoted
        (3, 2, 4, 2),  # rung 1 {1: .72, 3: .92}: trial 3 goes to R; N_m = 1 reached: stop
    ]
    assert budget.spent == 8 and budget.by_trial[3] == 4  # promotions pay only the new epochs


def test_paper_settings_rungs_promotions_and_the_n_m_stop():
    rng = np.random.default_rng(0)
    qualities = list(rng.uniform(0, 1, 500))
    method = Asha(sampler(qualities), r=1, R=16, eta=4, s=0, max_trials_at_R=4)
    jobs, budget = drive(method, lambda c, epoch: c["q"] * (1 - 0.5 / epoch))
    assert {j.stop for j in jobs} == {1, 4, 16}
    assert method.reached_top == 4 and method.next_job(budget.remaining) is DONE
    top = [t for t in method.scores[2]]
    assert len(top) == 4 and all(budget.by_trial[t] == 16 for t in top)  # 1 + 3 + 12 epochs each
    assert budget.spent == sum(j.epochs for j in jobs) <= 400


def test_exactly_the_top_fraction_is_promoted():
    # eight trials at rung 0 with eta = 4: exactly floor(8 / 4) = 2, the best two, reach rung 1
    method = Asha(sampler([0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1] + [0.0] * 50), r=1, R=16, eta=4, s=0,
                  max_trials_at_R=100)
    jobs, _ = drive(method, lambda c, epoch: c["q"], budget_total=8 + 2 * 3)
    assert [(j.trial, j.rung) for j in jobs] == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1),  # top 1 of 4
                                                 (4, 0), (5, 0), (6, 0), (7, 0), (1, 1)]  # top 2 of 8


def test_budget_stop_when_the_next_job_cannot_be_paid():
    method = Asha(sampler([0.5, 0.9, 0.1, 0.2, 0.3]), r=1, R=16, eta=4, s=0, max_trials_at_R=4)
    jobs, budget = drive(method, lambda c, epoch: c["q"], budget_total=6)
    # four trials at rung 0 (4 epochs); the promotion of trial 1 to 4 epochs costs 3 > 2 left
    assert [(j.trial, j.stop) for j in jobs] == [(0, 1), (1, 1), (2, 1), (3, 1)]
    assert budget.spent == 4 and method.next_job(budget.remaining) is DONE


def test_failed_trials_rank_last_and_are_never_promoted():
    method = Asha(sampler([0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]), r=1, R=4, eta=2, s=0, max_trials_at_R=1)
    jobs, _ = drive(method, lambda c, epoch: math.nan if c["q"] == 0.9 else c["q"])
    assert 0 not in [j.trial for j in jobs if j.rung and j.rung > 0]
    assert method.scores[0][0] == -math.inf


def test_same_seed_same_configuration_sequence():
    profile = load_profile("embedded")
    a, b = asha(profile, seed=3), asha(profile, seed=3)
    assert [a.searcher.suggest(i) for i in range(5)] == [b.searcher.suggest(i) for i in range(5)]
    assert asha(profile, seed=4).searcher.suggest(0) != asha(profile, seed=3).searcher.suggest(0)
