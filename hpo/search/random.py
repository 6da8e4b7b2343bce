"""Random search: hyperopt's rand.suggest over the applied space (Table 2B)."""

from __future__ import annotations

from hyperopt import rand

from hpo.search._hyperopt import HyperoptSearcher
from hpo.search.base import Fifo
from hpo.space import config_space, to_hyperopt


def random_search(profile, seed: int, fixed: dict | None = None) -> Fifo:
    searcher = HyperoptSearcher(to_hyperopt(config_space(profile.space.applied)), rand.suggest, seed)
    return Fifo("random", searcher, profile.budget.configurations, profile.budget.epochs_per_configuration)
