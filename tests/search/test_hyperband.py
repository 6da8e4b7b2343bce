"""Hyperband: the paper's bracket table, integer rungs, synchronous promotions resumed from
checkpoints, the loop's contract on k simulated workers. No Keras."""

import math

import pytest

from hpo.budget import Budget
from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Outcome
from hpo.profiles import load_profile
from hpo.search.hyperband import bracket_table, brackets, hyperband
from hpo.search.loop import run_search

PROFILE = load_profile("embedded")
FIXED = {"input_size": 32, "batch_size": 32}

# Li et al. 2018, Table 1: R = 81, eta = 3; per bracket s = 4..0, (n_i, r_i) for i = 0..s
PAPER = [[(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
         [(34, 3), (11, 9), (3, 27), (1, 81)],
         [(15, 9), (5, 27), (1, 81)],
         [(8, 27), (2, 81)],
         [(5, 81)]]


def test_the_brackets_for_r81_eta3_are_the_papers_table():
    assert brackets(81, 3) == PAPER
    printed = bracket_table(81, 3).splitlines()
    assert printed[0] == "Hyperband brackets for R=81, eta=3"
    assert printed[2].split() == ["0", "81", "1", "34", "3", "15", "9", "8", "27", "5", "81"]


@pytest.mark.parametrize("R,eta", [(16, 4), (25, 3), (4, 2), (1, 2), (100, 3)])
def test_every_bracket_ends_at_r_and_halves_by_eta(R, eta):
    for rungs in brackets(R, eta):
        assert rungs[-1][1] == R
        assert all(n2 == rungs[0][0] // eta ** (i + 1) for i, (n2, _) in enumerate(rungs[1:]))
        assert all(r1 < r2 for (_, r1), (_, r2) in zip(rungs, rungs[1:], strict=False))
    with pytest.raises(ValueError):
        brackets(16, 1)


def by_trial(job):
    return Outcome(0.1 + (job.trial * 37 % 101) / 200 + job.stop / 1000, 0.5, job.epochs)


def test_one_worker_runs_the_brackets_in_order_promoting_the_best_from_their_checkpoints():
    method = hyperband(PROFILE, 0, FIXED)  # R = 16, eta = 4: brackets 16x1 -> 4x4 -> 1x16, 6x4 -> 1x16, 3x16
    result = run_search(method, Budget(40 + 36 + 48), SimulatedDriver(by_trial), progress=None)
    jobs = [job for job, _ in result.jobs]
    assert [(j.start, j.stop) for j in jobs[:16]] == [(0, 1)] * 16
    rung0 = {j.trial: by_trial(j).score for j in jobs[:16]}
    promoted = [j.trial for j in jobs[16:20]]
    assert sorted(promoted) == sorted(sorted(rung0, key=lambda t: -rung0[t])[:4])
    assert [(j.start, j.stop) for j in jobs[16:21]] == [(1, 4)] * 4 + [(4, 16)]
    assert [(j.start, j.stop) for j in jobs[21:]] == [(0, 4)] * 6 + [(4, 16)] + [(0, 16)] * 3
    assert result.budget_used == 40 + 36 + 48  # promotions charged only their new epochs


@pytest.mark.parametrize("slots", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("fail_every", [0, 3])
def test_k_workers_never_overspend_tell_every_job_once_and_never_promote_a_failure(slots, fail_every):
    def outcome(job):
        if fail_every and job.trial % fail_every == 1:
            return Outcome(math.nan, math.nan, job.epochs // 2, error="Simulated: failed")
        return by_trial(job)

    method = hyperband(PROFILE, slots, FIXED)
    budget = Budget(PROFILE.budget.epochs)
    result = run_search(method, budget, SimulatedDriver(outcome, slots, lambda job: 1 + job.trial % 3), progress=None)
    told = [(j.trial, j.stop) for j, _ in result.jobs]
    assert len(told) == len(set(told)) and not method.running
    assert 0 < budget.spent == sum(o.epochs_trained for _, o in result.jobs) <= budget.total
    failed = {j.trial for j, o in result.jobs if o.error}
    assert not [j for j, _ in result.jobs if j.start > 0 and j.trial in failed]
    # each promotion resumes where the trial's last job stopped
    last = {}
    for job, _ in result.jobs:
        assert job.start == last.get(job.trial, 0)
        last[job.trial] = job.stop
