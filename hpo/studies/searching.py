"""One method's search inside a study: the checks before it starts, its trial runs under the
active (method or variant) run, the driver the stage's engine makes (hpo/executor/drivers.py),
the loop. Shared by compare, subset, importance and record."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from hpo import tracking
from hpo.budget import Budget
from hpo.errors import UserError
from hpo.executor.drivers import IN_PROCESS, Engine
from hpo.executor.trials import MethodTrials
from hpo.executor.worker import TrialSpec
from hpo.search import registry
from hpo.search.base import Method
from hpo.search.loop import SearchResult, run_search

CHECKPOINT_DIR = ".hpo-checkpoints"  # HPO_CHECKPOINT_DIR overrides


@dataclass(frozen=True)
class Repetition:
    """One repetition of a study: `seed` fixes the prepared data and backbone (`prepare`'s seed),
    `search_seed` the methods' draws and the trainings' initial heads and data order. With the
    two equal it is the study as it has always been; a repetition is its own study run, with its
    own study key, resumable like any other."""
    seed: int
    search_seed: int

    @property
    def repeated(self) -> bool:
        return self.search_seed != self.seed

    def key_parameters(self) -> dict:
        return {"search_seed": self.search_seed} if self.repeated else {}

    def command_parameters(self) -> dict:
        """What the `mlflow run` command of this repetition adds (hpo.mlflow_ui.reproduce_command)."""
        return {"search_seeds": self.search_seed} if self.repeated else {}

    def study(self, stage: str, profile) -> str:
        return f"{stage}-{profile.name}-seed{self.seed}" + (f"-search{self.search_seed}" if self.repeated else "")

    def run_name(self, stage: str, profile) -> str:
        return f"{stage} {profile.name} seed {self.seed}" + (f" search {self.search_seed}" if self.repeated else "")

    def tags(self) -> dict[str, str]:
        return {"search_seed": str(self.search_seed)}


def check_request(profile, datasets: list[str], methods: list[str], budget: int) -> None:
    """Everything that can be wrong with the request, found before any run starts."""
    if not methods:
        raise UserError(f"no method named: choose from {', '.join(registry.names())}, or all")
    entries = [registry.entry(name) for name in methods]  # an unknown name is one line
    for name in datasets:
        profile.target(name)
    if budget < 1:
        raise UserError(f"budget must be at least 1 epoch, got {budget}")
    for entry in entries:
        entry.check(profile, budget)


def checkpoint_root(study_run_id: str) -> Path:
    """Where a study keeps the checkpoints of trials it may resume, until it finishes."""
    return Path(os.environ.get("HPO_CHECKPOINT_DIR") or CHECKPOINT_DIR) / study_run_id


def remove_checkpoints(study_run_id: str) -> None:
    shutil.rmtree(checkpoint_root(study_run_id), ignore_errors=True)


def search(method: Method, budget: int, profile, seed: int, dataset: str, tags: dict[str, str], label: str,
           checkpoints: Path | None = None, subset: str | None = None, weighted: bool = False,
           score_test: bool = True, search_seed: int | None = None, test_every_epoch: bool = False,
           engine: Engine = IN_PROCESS) -> SearchResult:
    """Run `method` under `budget` epochs; each trial a run nested under the active run, tagged
    with `tags`; the search's recorded events are replayed first (hpo/search/events.py), the
    jobs the store holds read back, not trained. The test set is scored
    where the best job's test accuracy may be needed (never, without `score_test`). Trial t
    trains with search_seed + t (default: the prepare `seed`). `test_every_epoch`: every epoch
    logs its test accuracy and seconds too (a recorded table). `engine`: where the jobs train
    (hpo/executor/drivers.py)."""
    spec = partial(TrialSpec, profile=profile, prepare_seed=seed, dataset=dataset, subset=subset, weighted=weighted,
                   test_every_epoch=test_every_epoch)
    trials = MethodTrials(tracking.active_run_id(), method.name, {**tags, "dataset": dataset}, spec,
                          seed if search_seed is None else search_seed, checkpoints, score_test=score_test)
    driver = engine.driver(trials.launch)
    tracking.set_tags({"workers": str(driver.slots)})
    try:
        result = run_search(method, Budget(budget), driver, label, record=trials)
    except BaseException:
        driver.cancel()  # jobs still running on other workers
        try:
            trials.flush()  # the results told since the last write: more of the record to replay
        except Exception:  # a store that is gone: those events are lost, their jobs read back
            pass
        raise
    trials.flush()
    # With several workers, ASHA's and TPE's decisions follow the order results arrived in
    tracking.log_text(told_order(result), "told_order.csv")
    return result


def told_order(result: SearchResult) -> str:
    """The jobs in the order their results were told to the method, one line each."""
    lines = ["trial,start,stop,rung,val_accuracy"]
    lines += [f"{job.trial},{job.start},{job.stop},{'' if job.rung is None else job.rung},{outcome.score}"
              for job, outcome in result.jobs]
    return "\n".join(lines) + "\n"
