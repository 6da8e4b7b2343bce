"""Where a study's seconds go: named phases, summed while a `recording()` is open (the overhead
benchmark opens one), and nothing but a flag test otherwise.

Phases nest; each second is counted once, in the innermost phase open at the time, so the
phases of a record add up to at most the wall time around them and "the rest" is what no phase
names.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class Record:
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter = field(default_factory=Counter)  # how many times each phase was entered

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds
        self.calls[name] += 1


_record: Record | None = None
_children: list[float] = []  # per open phase: seconds its inner phases took


@contextmanager
def recording() -> Iterator[Record]:
    """Sum phases into the record yielded, until the block ends."""
    global _record
    outer, _record = _record, Record()
    try:
        yield _record
    finally:
        _record = outer


@contextmanager
def phase(name: str) -> Iterator[None]:
    if _record is None:
        yield
        return
    record = _record
    started = time.perf_counter()
    _children.append(0.0)
    try:
        yield
    finally:
        inner = _children.pop()
        elapsed = time.perf_counter() - started
        record.add(name, elapsed - inner)
        if _children:
            _children[-1] += elapsed


def add(name: str, seconds: float) -> None:
    """Seconds measured elsewhere (between two Keras callbacks), counted as an inner phase."""
    if _record is None:
        return
    _record.add(name, seconds)
    if _children:
        _children[-1] += seconds
