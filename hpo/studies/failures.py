"""The one rule for failed trials, shared by compare, subset, importance and record: a search
(a method or variant on a dataset) whose every trial failed fails the stage, after the study
has finished and logged everything else; a study where only some trials failed says how many
at its end and succeeds."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hpo.errors import UserError, one_line
from hpo.jobs import Job, Outcome

CAUSE_CHARACTERS = 300  # of the first failure's message, on the one line


def _failed(outcome: Outcome) -> bool:
    return outcome.error is not None or math.isnan(outcome.score)


@dataclass
class Failures:
    """Every search of one study, as (label, trials, failed trials, first failure)."""
    searches: list[tuple[str, int, int, str | None]] = field(default_factory=list)

    def add(self, label: str, jobs: list[tuple[Job, Outcome]], extra: list[Outcome] = ()) -> None:
        """One search's jobs (a trial failed if one of its jobs did), and outcomes of single
        trainings that belong to it (a variant's final training)."""
        trials: dict[int, list[Outcome]] = {}
        for job, outcome in jobs:
            trials.setdefault(job.trial, []).append(outcome)
        outcomes = [*trials.values(), *([o] for o in extra)]
        failed = [o for group in outcomes for o in group if _failed(o)]
        bad = sum(any(_failed(o) for o in group) for group in outcomes)
        first = next((o.error for o in failed if o.error), "NaN validation accuracy" if failed else None)
        self.searches.append((label, len(outcomes), bad, first))

    def _dead(self) -> list[tuple[str, int, int, str | None]]:
        return [s for s in self.searches if s[1] and s[2] == s[1]]

    def fatal(self) -> bool:
        """Whether a search's every trial failed: the study's result is no result."""
        return bool(self._dead())

    def error(self) -> UserError:
        """The one line of the first search whose every trial failed (call where fatal())."""
        dead = self._dead()
        label, total, _, first = dead[0]
        more = f"; {len(dead) - 1} other search(es) too" if len(dead) > 1 else ""
        cause = f"; the first: {one_line(first, CAUSE_CHARACTERS)}" if first else ""
        return UserError(f"every trial of {label} failed ({total} of {total}{cause}{more}): fix that, then rerun "
                         "with --restart")

    def summary(self) -> str | None:
        """`3 of 48 trials failed (first: ...)`, or None when none failed."""
        failed = sum(s[2] for s in self.searches)
        if not failed:
            return None
        first = next(s[3] for s in self.searches if s[2])
        return (f"{failed} of {sum(s[1] for s in self.searches)} trials failed"
                + (f" (first: {one_line(first, CAUSE_CHARACTERS)})" if first else ""))
