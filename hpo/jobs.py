"""A job and what it gave: the plain data that methods, the loop, drivers, workers and the
tracking store pass between them (picklable, so a job may run in another process)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    trial: int
    config: dict
    start: int
    stop: int
    rung: int | None = None  # ASHA's rung index; None for one-shot methods

    @property
    def epochs(self) -> int:
        return self.stop - self.start


@dataclass
class Outcome:
    """What a job gave, as plain data (it may come from another process, or from the store)."""
    score: float  # validation accuracy at the job's last epoch; NaN when the trial failed
    test_accuracy: float
    epochs_trained: int
    train_seconds: float = 0.0  # inside Keras' epochs (the first includes tracing the step function)
    error: str | None = None
    recorded: bool = False  # read back from the tracking store, not trained now


def best_job(candidates):
    """The rule that picks a method's reported job (Table 6), for the loop and the report alike:
    from (validation accuracy, item) pairs in the order the jobs ended, the highest accuracy; on
    a tie, the first to reach it; a NaN (failed or diverged) never. None if nothing is usable."""
    best = None
    for score, item in candidates:
        if score == score and (best is None or score > best[0]):  # score == score: not NaN
            best = (score, item)
    return best
