"""Is a method better beyond noise? Statistics over repetitions of a study (search seeds), where
each repetition gives every method one score per dataset.

Scores come as a table: one row per block (a seed and a dataset: every method's score in it
is measured under the same data and budget), one column per method. From it: the mean of each
method with a 95 % percentile-bootstrap interval, the mean rank of each method across blocks,
and for each pair of methods a paired Wilcoxon signed-rank test across blocks (Holm-corrected
over the pairs) with the probability that the first scores above the second. The paper's claims
are one-sided tests of the same kind, stated as data (`PAPER_CLAIMS`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from hpo.search import registry

ALPHA = 0.05
RESAMPLES = 10_000


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float  # NaN with fewer than 2 values
    high: float
    n: int


def bootstrap_interval(values, confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """The mean of the finite `values` and its percentile-bootstrap interval (fixed by `seed`)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    if len(x) == 1:
        return Interval(float(x[0]), math.nan, math.nan, 1)
    means = x[np.random.default_rng(seed).integers(0, len(x), (resamples, len(x)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(x.mean()), float(low), float(high), len(x))


def _complete(scores: pd.DataFrame) -> pd.DataFrame:
    """The blocks where every method has a finite score (a paired comparison needs both)."""
    return scores.replace([np.inf, -np.inf], np.nan).dropna()


def mean_ranks(scores: pd.DataFrame) -> pd.Series:
    """Each method's rank averaged over the blocks (1: the best score of the block; ties share
    the mean of their ranks)."""
    return _complete(scores).rank(axis=1, ascending=False, method="average").mean().rename("mean rank")


def rank_intervals(scores: pd.DataFrame, confidence: float = 0.95, resamples: int = RESAMPLES,
                   seed: int = 0) -> dict[str, Interval]:
    """Each method's mean rank over the blocks and its percentile-bootstrap interval, the blocks
    resampled together (a block's ranks depend on each other)."""
    complete = _complete(scores)
    ranks = complete.rank(axis=1, ascending=False, method="average").to_numpy()
    if len(ranks) == 0:
        return {m: Interval(math.nan, math.nan, math.nan, 0) for m in scores.columns}
    means = ranks.mean(axis=0)
    if len(ranks) == 1:
        return {m: Interval(float(means[i]), math.nan, math.nan, 1) for i, m in enumerate(complete.columns)}
    drawn = ranks[np.random.default_rng(seed).integers(0, len(ranks), (resamples, len(ranks)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(drawn, [tail, 100 - tail], axis=0)
    return {m: Interval(float(means[i]), float(low[i]), float(high[i]), len(ranks))
            for i, m in enumerate(complete.columns)}


def holm(p_values) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def _wilcoxon(differences: np.ndarray, alternative: str) -> float:
    """p of the Wilcoxon signed-rank test of the differences (1 when every difference is 0)."""
    if len(differences) == 0:
        return math.nan
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences, zero_method="zsplit", alternative=alternative).pvalue)


def beats(first: np.ndarray, second: np.ndarray) -> float:
    """The probability that `first` scores above `second` in a block (a tie counts half)."""
    d = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    return float(np.mean(d > 0) + 0.5 * np.mean(d == 0)) if len(d) else math.nan


@dataclass(frozen=True)
class PairTest:
    first: str
    second: str
    n: int  # blocks where both have a score
    p_value: float  # two-sided Wilcoxon signed-rank
    p_holm: float  # corrected over all pairs
    p_first_better: float

    @property
    def different(self) -> bool:
        return self.p_holm < ALPHA


def paired_tests(scores: pd.DataFrame) -> list[PairTest]:
    """Every pair of methods (in column order), compared block by block."""
    pairs = []
    for a, b in itertools.combinations(scores.columns, 2):
        both = _complete(scores[[a, b]])
        d = (both[a] - both[b]).to_numpy()
        pairs.append((a, b, len(d), _wilcoxon(d, "two-sided"), beats(both[a], both[b])))
    adjusted = holm([p for _, _, _, p, _ in pairs])
    return [PairTest(a, b, n, p, q, prob) for (a, b, n, p, prob), q in zip(pairs, adjusted, strict=True)]


@dataclass(frozen=True)
class Claim:
    """`better` scores above `worse` (less `margin`: "at most `margin` below it" for a claim that
    one recovers the other's accuracy)."""
    text: str
    better: str
    worse: str
    margin: float = 0.0


PAPER_CLAIMS = (
    *(Claim(*claim) for claim in registry.PAPER_CLAIMS),
    Claim("with class weights the imbalanced subset recovers the balanced one's accuracy (within 1 point)",
          "imbalanced_weighted", "balanced", margin=0.01),
)


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    n: int
    p_value: float  # one-sided Wilcoxon signed-rank of better - worse + margin > 0

    @property
    def supported(self) -> bool:
        return self.p_value < ALPHA


def verdict(claim: Claim, scores: pd.DataFrame) -> Verdict | None:
    """The claim tested on the blocks where both of its methods (or variants) have a score; None
    when the scores do not hold both."""
    if claim.better not in scores or claim.worse not in scores:
        return None
    both = _complete(scores[[claim.better, claim.worse]])
    d = (both[claim.better] - both[claim.worse] + claim.margin).to_numpy()
    return Verdict(claim, len(d), _wilcoxon(d, "greater"))
