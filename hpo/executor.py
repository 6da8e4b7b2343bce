"""Runs the jobs of a search method: one fine-tuning job as one nested MLflow trial run.

In-process and sequential. Its input (a Job and the method's name) and output (`Outcome`) are
plain data, so another executor can run trials elsewhere later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hpo import tracking
from hpo.data.base import SplitData
from hpo.search.base import Job
from hpo.training import EpochMetrics, TrialConfig, fine_tune


@dataclass
class Outcome:
    score: float  # validation accuracy at the job's last epoch; NaN when the trial failed
    test_accuracy: float
    epochs_trained: int
    train_seconds: float = 0.0  # inside Keras' epochs (the first includes tracing the step function)
    error: str | None = None


@dataclass
class TrialRecord:
    """What the executor remembers of a trial across its jobs (ASHA resumes it)."""
    run_id: str
    checkpoint: Path
    epochs: int = 0
    outcome: Outcome | None = None
    history: list[float] = field(default_factory=list)


class Executor:
    def __init__(self, method: str, data: SplitData, backbone_factory: Callable, min_input_size: int,
                 checkpoints: Path, seed: int, keep_checkpoints: bool, feature_cache=None,
                 tags: dict[str, str] | None = None):
        self.method, self.data, self.backbone_factory = method, data, backbone_factory
        self.tags = tags or {}  # added to every trial run (a study's name, to find its trials again)
        self.min_input_size, self.checkpoints, self.seed = min_input_size, Path(checkpoints), seed
        self.keep_checkpoints = keep_checkpoints  # only methods that resume trials need them
        self.feature_cache = feature_cache
        self.trials: dict[int, TrialRecord] = {}

    def run(self, job: Job) -> Outcome:
        record = self.trials.get(job.trial)
        tags = {**self.tags, "method": self.method, "dataset": self.data.name, "trial": str(job.trial),
                "status": "RUNNING"}
        if job.rung is not None:
            tags["rung"] = str(job.rung)
        trained = []

        def report(m: EpochMetrics):
            tracking.log_epoch(m.metrics(), m.epoch)
            trained.append(m)

        try:
            with tracking.child_run(f"{self.method} trial {job.trial}", tags, run_id=record and record.run_id):
                if record is None:
                    record = self.trials[job.trial] = TrialRecord(tracking.active_run_id(),
                                                                  self.checkpoints / f"trial-{job.trial}")
                    tracking.log_params(job.config)
                result = fine_tune(TrialConfig.from_dict(job.config), self.data, job.epochs,
                                   resume_from=record.checkpoint if job.start > 0 else None,
                                   backbone_factory=self.backbone_factory, min_input_size=self.min_input_size,
                                   on_epoch=report, checkpoint_to=record.checkpoint if self.keep_checkpoints else None,
                                   seed=self.seed + job.trial, feature_cache=self.feature_cache)
                outcome = Outcome(result.val_accuracy, result.test_accuracy, len(trained),
                                  sum(m.seconds for m in trained))
                tracking.log_metrics({"test_accuracy": outcome.test_accuracy, "epochs": job.stop})
                tracking.set_tags({"status": "FINISHED"})
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001  (any failure of one trial is recorded; the study goes on)
            if record is None:  # the run could not even start: tracking itself is broken
                raise
            outcome = Outcome(math.nan, math.nan, len(trained), sum(m.seconds for m in trained),
                              error=f"{type(e).__name__}: {e}")
            tracking.tag_run(record.run_id, {"status": "FAILED"})
        record.epochs = job.start + outcome.epochs_trained
        record.outcome = outcome
        return outcome
