"""Bayesian optimisation: hyperopt's TPE, starting from `tpe_startup` random configurations."""

from __future__ import annotations

from functools import partial

from hyperopt import tpe as hyperopt_tpe

from hpo.search._hyperopt import HyperoptSearcher
from hpo.search.base import Fifo
from hpo.space import config_space, to_hyperopt


def tpe_searcher(space: dict, seed: int, startup: int) -> HyperoptSearcher:
    return HyperoptSearcher(space, partial(hyperopt_tpe.suggest, n_startup_jobs=startup), seed)


def tpe(profile, seed: int, fixed: dict | None = None) -> Fifo:
    searcher = tpe_searcher(to_hyperopt(config_space(profile.space.applied)), seed, profile.budget.tpe_startup)
    return Fifo("tpe", searcher, profile.budget.configurations, profile.budget.epochs_per_configuration)
