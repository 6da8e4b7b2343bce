"""A searcher for methods that train trials to several epoch counts (ASHA, Hyperband): new
configurations come from a TPE model (hyperopt's) of the results at the largest rung that has
enough of them, as BOHB does (Falkner et al. 2018, with TPE in place of its own KDE: both model
good and bad configurations with Parzen estimators); a fraction of them, and all of them until
some rung has enough results, are drawn at random.

"Enough" is BOHB's N_min = d + 1 results, d the number of searched hyperparameters; the random
fraction is BOHB's 1/3. Failed trials are left out of the model, as TPE leaves them out.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from ConfigSpace import CategoricalHyperparameter, Constant, OrdinalHyperparameter
from hyperopt import JOB_STATE_DONE, STATUS_OK, Domain, Trials, space_eval
from hyperopt import tpe as hyperopt_tpe
from pydantic import Field

from hpo.search.asha import Asha, SpaceSampler
from hpo.search.base import MethodSettings, Searcher
from hpo.space import config_space, native, to_hyperopt

RANDOM_FRACTION = 1 / 3


class ModelSettings(MethodSettings):
    """The share of new configurations drawn at random (BOHB's 1/3)."""
    random_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = RANDOM_FRACTION


class RungModelSearcher(Searcher):
    def __init__(self, space_spec, seed: int, random_fraction: float = RANDOM_FRACTION):
        cs = config_space(space_spec)
        self.params = [p for p in cs.values() if not isinstance(p, Constant)]
        self.space = to_hyperopt(cs)
        self.domain = Domain(lambda config: 0.0, self.space)  # the objective runs elsewhere
        self.random = SpaceSampler(config_space(space_spec, seed=seed))
        self.rng = np.random.default_rng(seed)
        self.random_fraction = random_fraction
        self.min_points = len(self.params) + 1
        self.configs: dict[int, dict] = {}
        self.results: dict[int, dict[int, float]] = {}  # epochs -> trial -> validation accuracy

    def _rung(self) -> dict[int, float] | None:
        """The results at the largest epoch count with enough of them."""
        for epochs in sorted(self.results, reverse=True):
            if len(self.results[epochs]) >= self.min_points:
                return self.results[epochs]
        return None

    def suggest(self, trial: int) -> dict:
        draw = self.rng.random()  # drawn every time, so the sequence of choices is fixed by the seed
        seed = int(self.rng.integers(2**31 - 1))
        rung = self._rung()
        if rung is None or draw < self.random_fraction:
            config = self.random.suggest(trial)
        else:
            config = self._from_model(rung, seed)
        self.configs[trial] = config
        return config

    def observe(self, trial: int, score: float | None, epochs: int) -> None:
        if score is not None and not math.isnan(score):
            self.results.setdefault(epochs, {})[trial] = score

    def _vals(self, config: dict) -> dict[str, list]:
        """A configuration as hyperopt stores a trial's values (a choice by its index)."""
        vals = {}
        for p in self.params:
            value = config[p.name]
            if isinstance(p, CategoricalHyperparameter):
                value = [native(c) for c in p.choices].index(value)
            elif isinstance(p, OrdinalHyperparameter):
                value = [native(c) for c in p.sequence].index(value)
            vals[p.name] = [value]
        return vals

    def _from_model(self, rung: dict[int, float], seed: int) -> dict:
        trials = Trials()
        tids = list(range(len(rung)))
        docs = trials.new_trial_docs(
            tids, [None] * len(tids), [{"status": STATUS_OK, "loss": 1.0 - score} for score in rung.values()],
            [{"tid": tid, "cmd": self.domain.cmd, "workdir": None, "idxs": {p.name: [tid] for p in self.params},
              "vals": self._vals(self.configs[trial])} for tid, trial in zip(tids, rung, strict=True)])
        for doc in docs:
            doc["state"] = JOB_STATE_DONE
        trials.insert_trial_docs(docs)
        trials.refresh()
        [doc] = hyperopt_tpe.suggest(trials.new_trial_ids(1), self.domain, trials, seed)
        vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if v}
        return {k: native(v) for k, v in space_eval(self.space, vals).items()}


def asha_tpe(profile, seed: int, fixed: dict | None = None) -> Asha:
    """ASHA (the profile's `asha` settings) whose new configurations come from a TPE model of the
    results at its largest rung with enough of them (hpo/search/rung_model.py), random for a
    share of them (`methods: {asha_tpe: {random_fraction: 0.5}}`; default a third)."""
    a, fraction = profile.asha, ModelSettings.of(profile, "asha_tpe").random_fraction
    method = Asha(RungModelSearcher(profile.space.applied, seed, fraction), a.r, a.R, a.eta, a.s, a.max_trials_at_R)
    method.name = "asha_tpe"
    return method
