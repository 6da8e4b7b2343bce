"""A trial's hyperparameters, checked before anything is built or logged."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from hpo.errors import UserError
from hpo.profiles import MAX_BATCH, MAX_INPUT_SIZE, MAX_LAYERS, OPTIMIZERS

LIMITS = {"fine_tuned_layers": (0, MAX_LAYERS), "input_size": (1, MAX_INPUT_SIZE), "batch_size": (1, MAX_BATCH)}


@dataclass(frozen=True)
class TrialConfig:
    learning_rate: float
    dropout: float
    optimizer: str
    fine_tuned_layers: int
    input_size: int
    batch_size: int

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
        # finite and positive; what a user may ask for (at most MAX_LEARNING_RATE) is checked where
        # they give it, the profile and the command line
        if not (isinstance(self.learning_rate, (int, float)) and math.isfinite(self.learning_rate)
                and self.learning_rate > 0):
            raise UserError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise UserError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise UserError(f"{name} must be an integer from {low} to {high}, got {value!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "TrialConfig":
        names = {f.name for f in fields(cls)}
        unknown, missing = set(values) - names, names - set(values)
        if unknown or missing:
            raise UserError(f"trial configuration: unknown {sorted(unknown)}, missing {sorted(missing)}")
        return cls(**values)

    def as_dict(self) -> dict:
        return asdict(self)
