"""What a study spends outside training: one suggestion of each method.

Run with `make bench`; pytest-benchmark prints the table and saves JSON under .benchmarks/.
"""

import pytest

from hpo.budget import Budget
from hpo.profiles import load_profile
from hpo.search import METHODS

PROFILE = load_profile("embedded")
FIXED = {"input_size": 32, "batch_size": 32}


@pytest.mark.parametrize("name", ["grid", "random", "tpe", "asha"])
def test_one_suggestion_after_15_results(benchmark, name):
    """The cost of the 16th suggestion (TPE's model is fitted on the 15 results before it)."""
    def setup():
        method, budget = METHODS[name](PROFILE, 0, FIXED), Budget(10_000)
        for i in range(15):
            job = method.next_job(budget.remaining)
            budget.charge(job.trial, job.epochs)
            method.report(job, 0.5 + 0.01 * (i % 7))
        return (method, budget), {}

    benchmark.pedantic(lambda method, budget: method.next_job(budget.remaining), setup=setup, rounds=10)
