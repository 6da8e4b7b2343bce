"""Asynchronous successive halving, promotion variant (Li et al. 2020, Algorithm 2), run by one
worker: rungs at r * eta^(s + k) epochs up to R; whenever the top 1/eta of a rung holds a trial
not yet promoted, the best such trial from the highest rung is promoted and resumes from its
checkpoint (so it is charged only the new epochs); otherwise a new random configuration starts
at the bottom rung. Stops when `max_trials_at_R` trials reached the top rung, or when the budget
cannot pay the next job. Rung arithmetic is integer (no float logarithms).
"""

from __future__ import annotations

from typing import Callable

from hpo.search.base import Job, Method, ranking_score
from hpo.space import config_space, native


def milestones(r: int, R: int, eta: int, s: int) -> list[int]:
    """Epoch counts of the rungs: r*eta^s, r*eta^(s+1), ... while <= R."""
    if not (1 <= r <= R and eta >= 2 and s >= 0):
        raise ValueError(f"need 1 <= r <= R and eta >= 2, s >= 0; got r={r} R={R} eta={eta} s={s}")
    out, m = [], r * eta**s
    while m <= R:
        out.append(m)
        m *= eta
    if not out:
        raise ValueError(f"r * eta^s = {r * eta**s} exceeds R = {R}: no rung fits")
    return out


class Asha(Method):
    name = "asha"

    def __init__(self, sample: Callable[[], dict], r: int, R: int, eta: int, s: int, max_trials_at_R: int):
        self.sample, self.eta, self.max_trials_at_R = sample, eta, max_trials_at_R
        self.rungs = milestones(r, R, eta, s)
        self.scores: list[dict[int, float]] = [{} for _ in self.rungs]  # rung -> trial -> score
        self.promoted: list[set[int]] = [set() for _ in self.rungs]  # trials promoted out of each rung
        self.configs: dict[int, dict] = {}
        self.reached_top = 0

    @property
    def top(self) -> int:
        return len(self.rungs) - 1

    def _promotable(self, k: int) -> int | None:
        """The best trial in the top 1/eta of rung k that has not been promoted yet."""
        ranked = sorted(self.scores[k].items(), key=lambda item: (-ranking_score(item[1]), item[0]))
        for trial, score in ranked[: len(ranked) // self.eta]:
            if trial not in self.promoted[k] and ranking_score(score) > float("-inf"):
                return trial
        return None

    def next_job(self, remaining: int) -> Job | None:
        if self.reached_top >= self.max_trials_at_R:
            return None
        for k in reversed(range(self.top)):
            trial = self._promotable(k)
            if trial is not None:
                job = Job(trial, self.configs[trial], self.rungs[k], self.rungs[k + 1], rung=k + 1)
                if job.epochs > remaining:
                    return None
                self.promoted[k].add(trial)
                return job
        if self.rungs[0] > remaining:
            return None
        trial = len(self.configs)
        self.configs[trial] = self.sample()
        return Job(trial, self.configs[trial], 0, self.rungs[0], rung=0)

    def report(self, job: Job, score: float | None) -> None:
        self.scores[job.rung][job.trial] = ranking_score(score)
        if job.rung == self.top and ranking_score(score) > float("-inf"):
            self.reached_top += 1


def asha(profile, seed: int, fixed: dict | None = None, max_trials_at_R: int | None = None) -> Asha:
    """ASHA over the applied space; new configurations are drawn at random from one seeded
    ConfigSpace, so the same seed gives the same sequence. `max_trials_at_R` replaces the
    profile's N_m (Study III stops at 2 models trained to R)."""
    space = config_space(profile.space.applied, seed=seed)

    def sample() -> dict:
        return {k: native(v) for k, v in dict(space.sample_configuration()).items()}

    a = profile.asha
    return Asha(sample, a.r, a.R, a.eta, a.s, max_trials_at_R or a.max_trials_at_R)
