"""Asynchronous successive halving, promotion variant (Li et al. 2020, Algorithm 2): rungs at
r * eta^(s + k) epochs up to R; whenever the top 1/eta of a rung holds a trial not yet promoted,
the best such trial from the highest rung is promoted and resumes from its checkpoint (so it is
charged only the new epochs); otherwise the searcher proposes a new configuration for the bottom
rung. Stops when `max_trials_at_R` trials reached the top rung, or when the budget cannot pay
the next job. With jobs in flight, promotions rank the results that have come back; no new job
starts while the trials heading for R would complete N_m, so no more than N_m ever reach it.
Rung arithmetic is integer (no float logarithms).
"""

from __future__ import annotations

from hpo.search.base import DONE, WAIT, Job, Method, Searcher, Signal, ranking_score
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


def first_rung(profile) -> int:
    """The epochs of ASHA's first job on `profile` (ValueError: its settings fit no rung)."""
    a = profile.asha
    return milestones(a.r, a.R, a.eta, a.s)[0]


def top_rung(profile) -> int:
    """The epochs a trial ASHA promotes to the top has trained."""
    a = profile.asha
    return milestones(a.r, a.R, a.eta, a.s)[-1]


class SpaceSampler(Searcher):
    """Random configurations from one seeded ConfigSpace: the same seed, the same sequence."""

    def __init__(self, space):
        self.space = space

    def suggest(self, trial: int) -> dict:
        return {k: native(v) for k, v in dict(self.space.sample_configuration()).items()}


class Asha(Method):
    name = "asha"

    def __init__(self, searcher: Searcher, r: int, R: int, eta: int, s: int, max_trials_at_R: int):
        self.searcher, self.eta, self.max_trials_at_R = searcher, eta, max_trials_at_R
        self.rungs = milestones(r, R, eta, s)
        self.scores: list[dict[int, float]] = [{} for _ in self.rungs]  # rung -> trial -> score
        self.promoted: list[set[int]] = [set() for _ in self.rungs]  # trials promoted out of each rung
        self.configs: dict[int, dict] = {}
        self.running: dict[int, int] = {}  # trial -> the rung its job in flight trains it to
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

    def _stop(self) -> Signal:
        return WAIT if self.running else DONE  # a job in flight may fail and refund its epochs

    def next_job(self, remaining: int) -> Job | Signal:
        if self.reached_top >= self.max_trials_at_R:
            return DONE
        if self.reached_top + sum(rung == self.top for rung in self.running.values()) >= self.max_trials_at_R:
            return WAIT  # enough trials are training to R; if one fails, another may go
        for k in reversed(range(self.top)):
            trial = self._promotable(k)
            if trial is not None:
                job = Job(trial, self.configs[trial], self.rungs[k], self.rungs[k + 1], rung=k + 1)
                if job.epochs > remaining:
                    return self._stop()
                self.promoted[k].add(trial)
                self.running[trial] = job.rung
                return job
        if self.rungs[0] > remaining:
            return self._stop()
        trial = len(self.configs)
        config = self.searcher.suggest(trial)
        if config is None:
            return self._stop()
        self.configs[trial] = config
        self.running[trial] = 0
        return Job(trial, config, 0, self.rungs[0], rung=0)

    def tell(self, job: Job, score: float | None) -> None:
        del self.running[job.trial]
        self.scores[job.rung][job.trial] = ranking_score(score)
        if job.rung == self.top and ranking_score(score) > float("-inf"):
            self.reached_top += 1
        self.searcher.observe(job.trial, score, job.stop)


def asha(profile, seed: int, fixed: dict | None = None, max_trials_at_R: int | None = None) -> Asha:
    """ASHA over the applied space with random configurations from one seeded ConfigSpace, so
    the same seed gives the same sequence. `max_trials_at_R` replaces the profile's N_m (Study
    III stops at 2 models trained to R)."""
    a = profile.asha
    return Asha(SpaceSampler(config_space(profile.space.applied, seed=seed)), a.r, a.R, a.eta, a.s,
                max_trials_at_R or a.max_trials_at_R)

