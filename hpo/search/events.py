"""The order of a search's events, part of its record.

On several workers a method's decisions depend on the order in which results come back and on
what was in flight when it proposed. So every job handed out (ASK) and every result told to the
method (TELL) is an event with a sequence number, kept by a `Record` as the search runs. A rerun
replays the recorded events in their order, asking the method for a job where the record handed
one out and telling it the recorded result where the record told one, with nothing trained; then
it goes on live (hpo/search/loop.py). Methods are deterministic given their seed and these events,
so the replay makes the same decisions whatever the number of workers now.

A record only ever holds a prefix of what happened: a crash loses the last events, never one in
the middle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from hpo.errors import UserError
from hpo.jobs import Job, Outcome

ASK, TELL = "ask", "tell"


@dataclass(frozen=True)
class Event:
    kind: str  # ASK or TELL
    trial: int
    start: int
    stop: int

    @classmethod
    def of(cls, kind: str, job: Job) -> Event:
        return cls(kind, job.trial, job.start, job.stop)

    @classmethod
    def parse(cls, text: str) -> Event:
        kind, trial, start, stop = text.split()
        if kind not in (ASK, TELL):
            raise ValueError(f"not an event: {text!r}")
        return cls(kind, int(trial), int(start), int(stop))

    def __str__(self) -> str:
        return f"{self.kind} {self.trial} {self.start} {self.stop}"

    def describe(self) -> str:
        what = "handed out" if self.kind == ASK else "told the result of"
        return f"{what} trial {self.trial} epochs {self.start}->{self.stop}"


class RecordMismatch(UserError):
    """The method no longer makes the recorded decisions (its code or settings changed)."""


class Record(Protocol):
    """What the loop needs of a search's record."""

    def recorded(self) -> list[Event]:
        """The events recorded before this run, in their order."""

    def matches(self, job: Job) -> bool:
        """Whether the recorded hand-out of job.trial (to job.stop) had job's configuration."""

    def outcome(self, job: Job) -> Outcome | None:
        """The recorded result of a job whose result the record told; None if it is missing."""

    def append(self, event: Event) -> None:
        """A new event of this run, after the recorded ones."""


@dataclass
class MemoryRecord:
    """A record kept in memory: what a search leaves when it stops after its first `n` events
    (`cut`), the jobs in flight then dropped. The simulated driver's tests resume from it."""
    events: list[Event] = field(default_factory=list)
    jobs: dict[tuple[int, int], Job] = field(default_factory=dict)  # (trial, stop) -> job handed out
    outcomes: dict[tuple[int, int], Outcome] = field(default_factory=dict)  # (trial, stop) -> result told
    _recorded: int = 0

    @classmethod
    def cut(cls, events: list[Event], jobs: list[Job], told: list[tuple[Job, Outcome]], n: int) -> MemoryRecord:
        """The record of a search whose events, handed-out jobs and told results were these, had
        it stopped after `n` events."""
        kept = events[:n]
        asked = {(e.trial, e.stop) for e in kept if e.kind == ASK}
        said = {(e.trial, e.stop) for e in kept if e.kind == TELL}
        return cls(kept, {(j.trial, j.stop): j for j in jobs if (j.trial, j.stop) in asked},
                   {(j.trial, j.stop): o for j, o in told if (j.trial, j.stop) in said}, len(kept))

    def recorded(self) -> list[Event]:
        return self.events[:self._recorded]

    def matches(self, job: Job) -> bool:
        return self.jobs[job.trial, job.stop] == job

    def outcome(self, job: Job) -> Outcome | None:
        told = self.outcomes.get((job.trial, job.stop))
        return None if told is None else replace(told, recorded=True)

    def append(self, event: Event) -> None:
        self.events.append(event)
