"""The registry of methods: the built-in ones in table order, the paper's four as Study II's
default, the checks before a search, a method from another package through the entry-point
group hpo.methods, and the contract every registered method keeps (the same seed, the same jobs)."""

import re

import pytest

from hpo.budget import Budget
from hpo.errors import UserError
from hpo.executor.simulated import SimulatedDriver
from hpo.jobs import Outcome
from hpo.profiles import load_profile, parse_profile
from hpo.search import registry
from hpo.search.loop import run_search

SMOKE = load_profile("smoke")
FIXED = {"input_size": 32, "batch_size": 32}


def test_the_built_in_methods_and_the_default_of_study_ii():
    assert registry.study_ii_names() == ["grid", "random", "tpe", "asha"]
    assert registry.names()[:4] == registry.study_ii_names()
    assert {"hyperband", "bohb", "asha_tpe", "optuna_tpe", "optuna_cmaes", "optuna_gp", "smac"} <= set(registry.names())
    assert registry.resolve(None) == registry.study_ii_names() and registry.resolve(["all"]) == registry.names()
    with pytest.raises(UserError, match="unknown method 'hillclimb': choose from grid, random, tpe, asha, "):
        registry.resolve(["grid", "hillclimb"])
    entries = list(registry.registry().values())
    assert len({e.label for e in entries}) == len(entries) and all(e.name.isidentifier() for e in entries)


def test_a_budget_below_a_methods_first_job_is_refused_before_any_run():
    registry.entry("asha").check(SMOKE, 1)
    with pytest.raises(UserError, match="budget 3 cannot pay grid's first job of 4 epochs"):
        registry.entry("grid").check(SMOKE, 3)
    hyperband = registry.entry("hyperband")
    assert hyperband.first_job(SMOKE) == 1 and hyperband.longest_job(SMOKE) == SMOKE.asha.R
    assert "Hyperband brackets for R=4, eta=2" in hyperband.describe(SMOKE)


def test_a_method_whose_package_is_missing_says_which_and_how_to_install_it(monkeypatch):
    monkeypatch.setattr(registry, "find_spec", lambda module: None)
    with pytest.raises(UserError, match="optuna_gp needs the package torch, which is not installed: "
                                        r"pip install -r requirements-torch.txt, or leave optuna_gp out"):
        registry.entry("optuna_gp").check(SMOKE, 16)


def quality(job) -> Outcome:
    config = job.config
    score = 0.5 + config["dropout"] / 2 - abs(config["learning_rate"] - 0.01) + 0.01 * job.stop
    return Outcome(round(score, 3), 0.5, job.epochs)


@pytest.mark.parametrize("name", registry.names())
def test_every_method_hands_out_the_same_jobs_for_the_same_seed(name):
    def jobs(seed):
        method = registry.entry(name).build(SMOKE, seed, FIXED)
        result = run_search(method, Budget(SMOKE.budget.epochs), SimulatedDriver(quality, 2), progress=None)
        return [job for job, _ in result.jobs]

    first = jobs(1)
    assert first and first == jobs(1)
    if name != "grid":  # the grid is the grid, whatever the seed
        assert [j.config for j in first] != [j.config for j in jobs(2)]


def test_an_installed_package_adds_a_method_through_the_entry_point_group(plugin_installed):
    assert registry.names()[-1] == "local_search"
    entry = registry.entry("local_search")
    assert entry.label == "local search (plug-in)" and not entry.study_ii
    method = entry.build(SMOKE, 0, FIXED)
    result = run_search(method, Budget(SMOKE.budget.epochs), SimulatedDriver(quality, 2), progress=None)
    assert len(result.jobs) == SMOKE.budget.configurations and result.budget_used == SMOKE.budget.epochs


def test_a_broken_plug_in_is_one_line_naming_it(plugin_installed):
    (plugin_installed / "hpo_local_search.py").write_text("raise ImportError('no such thing')\n")
    registry.registry.cache_clear()
    with pytest.raises(UserError, match=r"the method plug-in local_search \(hpo_local_search:ENTRY\) cannot be "
                                        "loaded: ImportError: no such thing: fix or uninstall its package"):
        registry.names()


def with_methods(section: str):
    return parse_profile(open(SMOKE.source_file).read() + f"\nmethods: {section}\n", "methods.yaml")


def test_a_profile_tunes_a_method_in_its_own_section():
    profile = with_methods("{hyperband: {R: 8, eta: 2}, optuna_tpe: {configurations: 2, epochs_per_configuration: 3}}")
    hyperband = registry.entry("hyperband")
    assert hyperband.longest_job(profile) == 8 and "R=8, eta=2" in hyperband.describe(profile)
    assert registry.entry("bohb").longest_job(profile) == SMOKE.asha.R  # its own section is absent
    method = registry.entry("optuna_tpe").build(profile, 0, FIXED)
    result = run_search(method, Budget(16), SimulatedDriver(quality, 2), progress=None)
    assert [(j.start, j.stop) for j, _ in result.jobs] == [(0, 3), (0, 3)]
    assert registry.entry("optuna_tpe").first_job(profile) == 3


def test_a_profile_leaves_a_method_out():
    profile = with_methods("{asha: false, smac: false}")
    assert registry.resolve(None, profile) == ["grid", "random", "tpe"]
    assert "smac" not in registry.resolve(["all"], profile) and "hyperband" in registry.resolve(["all"], profile)
    with pytest.raises(UserError, match=r"method smac is left out of profile smoke \(methods.smac: false\)"):
        registry.resolve(["grid", "smac"], profile)


@pytest.mark.parametrize("section,message", [
    ("{hillclimb: {}}", "methods.hillclimb: no registered method of that name: choose from grid, "),
    ("{hyperband: {eta: 1}}", "methods.hyperband.eta: Input should be greater than or equal to 2"),
    ("{bohb: {random_fraction: 2.0}}", "methods.bohb.random_fraction: Input should be less than or equal to 1"),
    ("{smac: {turbo: true}}", "methods.smac.turbo: unknown key"),
    ("{grid: {points: 3}}", "methods.grid: grid takes no settings here"),
])
def test_a_bad_method_section_is_one_line_naming_its_key(section, message):
    with pytest.raises(UserError, match=f"profile methods.yaml: {re.escape(message)}"):
        with_methods(section)
