"""Local search: random configurations at first, then the best one so far with one
hyperparameter redrawn. A method from another package, registered through the entry-point
group hpo.methods with no file of the suite edited."""

import random

from hpo.search.base import Fifo, Searcher
from hpo.search.registry import MethodEntry
from hpo.space import config_space, native


class LocalSearcher(Searcher):
    def __init__(self, space_spec, seed: int, startup: int = 3):
        self.space = config_space(space_spec, seed=seed)
        self.rng, self.startup = random.Random(seed), startup
        self.configs, self.scores = {}, {}

    def suggest(self, trial: int) -> dict:
        draw = {k: native(v) for k, v in dict(self.space.sample_configuration()).items()}
        if len(self.scores) >= self.startup:
            best = max(self.scores, key=lambda t: (self.scores[t], -t))
            name = self.rng.choice(sorted(draw))
            draw = {**self.configs[best], name: draw[name]}
        self.configs[trial] = draw
        return draw

    def observe(self, trial: int, score, epochs: int) -> None:
        if score is not None and score == score:
            self.scores[trial] = score


def local_search(profile, seed: int, fixed=None) -> Fifo:
    b = profile.budget
    searcher = LocalSearcher(profile.space.applied, seed)
    return Fifo("local_search", searcher, b.configurations, b.epochs_per_configuration)


def _epochs(profile) -> int:
    return profile.budget.epochs_per_configuration


ENTRY = MethodEntry("local_search", "local search (plug-in)", "tab:pink", local_search, _epochs, _epochs)
