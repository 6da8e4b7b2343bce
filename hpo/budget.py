"""The epoch ledger every method draws from: it never lets a method spend more than its budget."""

from __future__ import annotations

from collections import defaultdict


class BudgetExceeded(Exception):
    """A method asked for more epochs than the budget has left (a bug in the method)."""


class Budget:
    def __init__(self, total: int):
        if total < 1:
            raise ValueError(f"a budget needs at least 1 epoch, got {total}")
        self.total = total
        self.spent = 0
        self.by_trial: dict[int, int] = defaultdict(int)

    @property
    def remaining(self) -> int:
        return self.total - self.spent

    def charge(self, trial: int, epochs: int) -> None:
        """Pay for `epochs` of `trial` before they are trained."""
        if epochs < 0:
            raise ValueError("cannot charge a negative number of epochs")
        if epochs > self.remaining:
            raise BudgetExceeded(f"trial {trial} asked for {epochs} epochs, {self.remaining} of {self.total} left")
        self.spent += epochs
        self.by_trial[trial] += epochs

    def refund(self, trial: int, epochs: int) -> None:
        """Give back epochs that were paid for but not trained (a trial that failed early)."""
        if not 0 <= epochs <= self.by_trial[trial]:
            raise ValueError(f"trial {trial} was charged {self.by_trial[trial]} epochs, cannot refund {epochs}")
        self.spent -= epochs
        self.by_trial[trial] -= epochs
