"""SMAC3's random-forest Bayesian optimisation (its hyperparameter-optimisation facade) as a
searcher, through its ask-and-tell interface, on the applied ConfigSpace itself: a Sobol initial
design of `tpe_startup` configurations, then the forest's expected improvement. Each
configuration trains once (deterministic: no repeated seeds); a failed one costs as accuracy 0.
SMAC keeps its own files in a temporary folder that lives as long as the searcher."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hpo.search.base import Fifo, FifoSettings, Searcher
from hpo.space import config_space, native

CRASH_COST = 1.0  # a failed configuration counts as accuracy 0 (SMAC's model needs a finite cost)


class SmacSearcher(Searcher):
    def __init__(self, space_spec, seed: int, configurations: int, startup: int):
        from smac import HyperparameterOptimizationFacade as Facade
        from smac import Scenario

        self._folder = tempfile.TemporaryDirectory(prefix="hpo-smac-")
        scenario = Scenario(config_space(space_spec), deterministic=True, n_trials=max(configurations, 1),
                            seed=seed, output_directory=Path(self._folder.name), crash_cost=CRASH_COST)
        self.smac = Facade(scenario, target_function=lambda config, seed=0: 0.0, overwrite=True, logging_level=40,
                           initial_design=Facade.get_initial_design(scenario, n_configs=max(startup, 1)),
                           intensifier=Facade.get_intensifier(scenario, max_config_calls=1))
        self._asked: dict[int, object] = {}  # trial id -> SMAC's trial info, until told

    def suggest(self, trial: int) -> dict:
        info = self.smac.ask()
        self._asked[trial] = info
        return {k: native(v) for k, v in dict(info.config).items()}

    def observe(self, trial: int, score: float | None, epochs: int) -> None:
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType

        info = self._asked.pop(trial)
        if score is None or math.isnan(score):
            self.smac.tell(info, TrialValue(cost=CRASH_COST, status=StatusType.CRASHED))
        else:
            self.smac.tell(info, TrialValue(cost=1.0 - score))  # SMAC minimises


def smac(profile, seed: int, fixed: dict | None = None) -> Fifo:
    configurations, epochs, startup = FifoSettings.of(profile, "smac").resolved(profile)
    return Fifo("smac", SmacSearcher(profile.space.applied, seed, configurations, startup), configurations, epochs)
