"""Optuna's samplers as searchers, through its ask-and-tell interface: multivariate TPE, CMA-ES
(Optuna's CmaEsSampler; the optimizer, a category, is drawn by its independent sampler) and its
Gaussian-process sampler (GPSampler, which needs PyTorch: requirements-torch.txt), each starting
from `tpe_startup` random configurations; a profile's `methods: {optuna_tpe: {...}}` may set
another number of configurations, epochs per configuration or start-up (FifoSettings). The
applied space maps to Optuna's distributions once; a choice of numbers (fine-tuned layers) is a
category, as hyperopt's TPE has it."""

from __future__ import annotations

import math
from typing import Callable

from ConfigSpace import CategoricalHyperparameter, Constant, OrdinalHyperparameter, UniformFloatHyperparameter

from hpo.search.base import Fifo, FifoSettings, Searcher
from hpo.space import config_space, native


def distributions(cs) -> tuple[dict, dict]:
    """(Optuna distributions of the searched hyperparameters, the constant ones' values)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    searched, constant = {}, {}
    for p in cs.values():
        if isinstance(p, Constant):
            constant[p.name] = native(p.value)
        elif isinstance(p, UniformFloatHyperparameter):
            searched[p.name] = FloatDistribution(p.lower, p.upper, log=p.log)
        elif isinstance(p, (CategoricalHyperparameter, OrdinalHyperparameter)):
            values = p.choices if isinstance(p, CategoricalHyperparameter) else p.sequence
            searched[p.name] = CategoricalDistribution([native(v) for v in values])
        else:
            raise TypeError(f"no Optuna distribution for {type(p).__name__} {p.name}")
    return searched, constant


class OptunaSearcher(Searcher):
    def __init__(self, space_spec, sampler):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.searched, self.constant = distributions(config_space(space_spec))
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self._asked: dict[int, object] = {}  # trial id -> Optuna's trial, until told

    def suggest(self, trial: int) -> dict:
        asked = self.study.ask(self.searched)
        self._asked[trial] = asked
        return {**self.constant, **{k: native(v) for k, v in asked.params.items()}}

    def observe(self, trial: int, score: float | None, epochs: int) -> None:
        from optuna.trial import TrialState

        asked = self._asked.pop(trial)
        if score is None or math.isnan(score):
            self.study.tell(asked, state=TrialState.FAIL)  # left out of the model
        else:
            self.study.tell(asked, score)


def _method(name: str, sampler: Callable[[int, int], object]):
    def build(profile, seed: int, fixed: dict | None = None) -> Fifo:
        configurations, epochs, startup = FifoSettings.of(profile, name).resolved(profile)
        return Fifo(name, OptunaSearcher(profile.space.applied, sampler(seed, startup)), configurations, epochs)
    return build


def _tpe(seed: int, startup: int):
    from optuna.samplers import TPESampler
    return TPESampler(seed=seed, n_startup_trials=startup, multivariate=True)


def _cmaes(seed: int, startup: int):
    from optuna.samplers import CmaEsSampler, RandomSampler
    return CmaEsSampler(seed=seed, n_startup_trials=startup, independent_sampler=RandomSampler(seed=seed),
                        warn_independent_sampling=False)


def _gp(seed: int, startup: int):
    from optuna.samplers import GPSampler
    return GPSampler(seed=seed, n_startup_trials=startup)


optuna_tpe = _method("optuna_tpe", _tpe)
optuna_cmaes = _method("optuna_cmaes", _cmaes)
optuna_gp = _method("optuna_gp", _gp)
