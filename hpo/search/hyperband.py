"""Hyperband (Li et al. 2018, Algorithm 1): successive halving in brackets that trade the number
of configurations for the epochs each starts with, repeated while the budget lasts.

With s_max the largest s with eta^s <= R and B = (s_max + 1) R, bracket s (from s_max down to 0)
starts n = ceil(B eta^s / (R (s + 1))) configurations; its rung i keeps n_i = floor(n eta^-i) of
them, trained to r_i = R eta^(i - s) epochs (floored, so the top rung is R), the best n_{i+1} of
rung i promoted once every result of the rung is in (synchronous), resuming from their
checkpoints, so a promotion is charged r_{i+1} - r_i epochs. A failed trial is never promoted.
Integer arithmetic throughout, as ASHA's rungs. When every bracket ran, they start again from
s_max; the search stops when the budget cannot pay the next job.
"""

from __future__ import annotations

from collections import deque
from typing import Annotated

from pydantic import Field

from hpo.search.asha import SpaceSampler
from hpo.search.base import DONE, WAIT, Job, Method, MethodSettings, Searcher, Signal, ranking_score
from hpo.search.rung_model import ModelSettings, RungModelSearcher
from hpo.space import config_space


def brackets(R: int, eta: int) -> list[list[tuple[int, int]]]:
    """Each bracket's rungs as (n_i, r_i), from s = s_max down to 0."""
    if R < 1 or eta < 2:
        raise ValueError(f"need R >= 1 and eta >= 2; got R={R} eta={eta}")
    s_max = 0
    while eta ** (s_max + 1) <= R:
        s_max += 1
    budget = (s_max + 1) * R
    out = []
    for s in range(s_max, -1, -1):
        n = -(-budget * eta**s // (R * (s + 1)))  # ceiling
        out.append([(n // eta**i, R // eta ** (s - i)) for i in range(s + 1)])
    return out


def bracket_table(R: int, eta: int) -> str:
    """The brackets as the paper's table prints them: a row per rung, n_i and r_i per bracket."""
    table = brackets(R, eta)
    head = "  ".join(f"{f's={len(table) - 1 - b}':<4} {'n_i':>4} {'r_i':>4}" for b in range(len(table)))
    rows = [f"Hyperband brackets for R={R}, eta={eta}", f"{'i':>3}  {head}"]
    for i in range(len(table[0])):
        cells = [f"{'':>4} {b[i][0]:>4} {b[i][1]:>4}" if i < len(b) else " " * 14 for b in table]
        rows.append((f"{i:>3}  " + "  ".join(cells)).rstrip())
    return "\n".join(rows)


class Hyperband(Method):
    name = "hyperband"

    def __init__(self, searcher: Searcher, R: int, eta: int):
        self.searcher, self.brackets = searcher, brackets(R, eta)
        self.configs: dict[int, dict] = {}
        self.bracket, self.rung = -1, 0  # bracket counts on across repetitions of the brackets
        self.queue: deque[int | None] = deque()  # the rung's jobs to hand out: a trial, or None for a new one
        self.scores: dict[int, float] = {}  # trial -> its score at the current rung
        self.running: set[int] = set()
        self._next_bracket()

    @property
    def rungs(self) -> list[tuple[int, int]]:
        return self.brackets[self.bracket % len(self.brackets)]

    def _next_bracket(self) -> None:
        self.bracket, self.rung = self.bracket + 1, 0
        self.queue, self.scores = deque([None] * self.rungs[0][0]), {}

    def _promote(self) -> None:
        """The rung is complete: its best go on, or the next bracket starts."""
        if self.rung + 1 < len(self.rungs):
            keep = self.rungs[self.rung + 1][0]
            ranked = sorted(self.scores.items(), key=lambda item: (-item[1], item[0]))
            best = [trial for trial, score in ranked[:keep] if score > float("-inf")]
            if best:
                self.rung, self.queue, self.scores = self.rung + 1, deque(best), {}
                return
        self._next_bracket()

    def next_job(self, remaining: int) -> Job | Signal:
        if not self.queue:
            if self.running:
                return WAIT  # the rung's results are not all in
            self._promote()
        stop = self.rungs[self.rung][1]
        start = 0 if self.rung == 0 else self.rungs[self.rung - 1][1]
        if stop - start > remaining:
            return WAIT if self.running else DONE  # a job in flight may fail and refund epochs
        trial = self.queue[0]
        if trial is None:
            trial = len(self.configs)
            config = self.searcher.suggest(trial)
            if config is None:
                return WAIT if self.running else DONE
            self.configs[trial] = config
        self.queue.popleft()
        self.running.add(trial)
        return Job(trial, self.configs[trial], start, stop, rung=self.rung)

    def tell(self, job: Job, score: float | None) -> None:
        self.running.discard(job.trial)
        self.scores[job.trial] = ranking_score(score)
        self.searcher.observe(job.trial, score, job.stop)


class HyperbandSettings(MethodSettings):
    """`methods: {hyperband: {R: 27, eta: 3}}`; left out, ASHA's R and eta (profile `asha`)."""
    R: Annotated[int, Field(ge=1, le=100_000)] | None = None
    eta: Annotated[int, Field(ge=2, le=1000)] | None = None

    def resolved(self, profile) -> tuple[int, int]:
        return self.R or profile.asha.R, self.eta or profile.asha.eta


class BohbSettings(HyperbandSettings, ModelSettings):
    """Hyperband's, and the share of new configurations drawn at random (BOHB's 1/3)."""


def hyperband(profile, seed: int, fixed: dict | None = None) -> Hyperband:
    """Hyperband over the applied space with random configurations from one seeded ConfigSpace."""
    return Hyperband(SpaceSampler(config_space(profile.space.applied, seed=seed)),
                     *HyperbandSettings.of(profile, "hyperband").resolved(profile))


def bohb(profile, seed: int, fixed: dict | None = None) -> Hyperband:
    """BOHB: Hyperband whose new configurations come from a TPE model of the results at the
    largest rung with enough of them (hpo/search/rung_model.py)."""
    settings = BohbSettings.of(profile, "bohb")
    method = Hyperband(RungModelSearcher(profile.space.applied, seed, settings.random_fraction),
                       *settings.resolved(profile))
    method.name = "bohb"
    return method


def plan(name: str, settings: type[HyperbandSettings] = HyperbandSettings) -> dict:
    """The registry entry's fields of the Hyperband method `name`: its first and longest job and
    its bracket table, for a profile, its settings, and that its trials resume."""
    def first_job(profile) -> int:
        return brackets(*settings.of(profile, name).resolved(profile))[0][0][1]

    def longest_job(profile) -> int:
        return settings.of(profile, name).resolved(profile)[0]

    def describe(profile) -> str:
        return bracket_table(*settings.of(profile, name).resolved(profile))
    return {"first_job": first_job, "longest_job": longest_job, "describe": describe, "settings": settings,
            "resumable": True}
