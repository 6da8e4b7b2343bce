"""What a study spends outside training: one suggestion of each method.

Run with `make bench`; pytest-benchmark prints the table and saves JSON under .benchmarks/.
"""

import pytest

from hpo.budget import Budget
from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Outcome
from hpo.profiles import load_profile
from hpo.search.loop import run_search
from hpo.search.registry import entry

PROFILE = load_profile("embedded")
FIXED = {"input_size": 32, "batch_size": 32}


@pytest.mark.parametrize("name", ["grid", "random", "tpe", "asha"])
def test_one_suggestion_after_15_results(benchmark, name):
    """The cost of the 16th suggestion (TPE's model is fitted on the 15 results before it).
    ASHA's results are those of the jobs its first 15 epochs pay for."""
    def setup():
        method = entry(name).build(PROFILE, 0, FIXED)
        per_job = getattr(method, "epochs", 1)
        run_search(method, Budget(15 * per_job), SimulatedDriver(
            lambda job: Outcome(0.5 + 0.01 * (job.trial % 7), 0.0, job.epochs)), progress=None)
        budget = Budget(10_000)
        return (method, budget), {}

    benchmark.pedantic(lambda method, budget: method.next_job(budget.remaining), setup=setup, rounds=10)
