"""Ask-and-tell over hyperopt's suggestion algorithms (rand.suggest, tpe.suggest), so a trial
can be charged to the budget and logged before it runs, instead of inside fmin's loop. Results
are matched to suggestions by trial id, so a job may run in another process."""

from __future__ import annotations

import math

import numpy as np
from hyperopt import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK, Domain, Trials, space_eval

from hpo.search.base import Searcher
from hpo.space import native


class HyperoptSearcher(Searcher):
    def __init__(self, space: dict, algo, seed: int):
        self.space, self.algo = space, algo
        self.domain = Domain(lambda config: 0.0, space)  # the objective runs elsewhere
        self.trials = Trials()
        self.rng = np.random.default_rng(seed)
        self._pending: dict[int, dict] = {}  # trial id -> its trial document, until observed

    def suggest(self, trial: int) -> dict:
        [tid] = self.trials.new_trial_ids(1)
        docs = self.algo([tid], self.domain, self.trials, int(self.rng.integers(2**31 - 1)))
        self.trials.insert_trial_docs(docs)
        self.trials.refresh()
        [doc] = docs  # the document now stored in self.trials
        vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if v}
        config = {k: native(v) for k, v in space_eval(self.space, vals).items()}
        self._pending[trial] = doc
        return config

    def observe(self, trial: int, score: float | None, epochs: int) -> None:
        doc = self._pending.pop(trial)
        failed = score is None or math.isnan(score)
        # hyperopt minimises; a failed trial is marked failed, which TPE leaves out of its model
        doc["result"] = {"status": STATUS_FAIL} if failed else {"status": STATUS_OK, "loss": 1.0 - score}
        doc["state"] = JOB_STATE_DONE
        self.trials.refresh()
