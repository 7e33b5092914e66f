"""Score drift: the live score histogram against the training one, as a population stability index.

Scores in [0, 1] fall in `SCORE_BINS` equal bins (the last one closed):

    bin      0        1        2              19
    score  [0,.05) [.05,.10) [.10,.15)  ...  [.95,1]

    PSI = sum over bins of (live share - training share) * ln(live share / training share)

with every share floored at `FLOOR`, so an empty bin counts as rare rather than infinite. By the
usual reading, under 0.1 the population is stable, 0.1 to 0.25 it moved, over 0.25 it changed.
The artifact carries its training shares (`ModelArtifact.score_shares`, the validation slice's);
`LiveScores` keeps the bin counts of the last N scores. Pure: no Prometheus here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence

SCORE_BINS = 20
FLOOR = 1e-4


def score_bin(score: float) -> int:
    """The bin of a score in [0, 1]; a score of exactly 1 is in the last bin."""
    return min(max(int(score * SCORE_BINS), 0), SCORE_BINS - 1)


def score_shares(scores: Iterable[float]) -> list[float]:
    """The share of `scores` in each bin; all zeros for no score."""
    counts = [0] * SCORE_BINS
    for s in scores:
        counts[score_bin(s)] += 1
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of `actual` shares against `expected` (same bins)."""
    if len(expected) != len(actual):
        raise ValueError(f"{len(expected)} expected bins against {len(actual)} actual ones")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, FLOOR), max(a, FLOOR)
        total += (a - e) * math.log(a / e)
    return total


class LiveScores:
    """The bin counts of the last `window` scores: O(1) per score, read at scrape time."""

    def __init__(self, window: int = 10_000) -> None:
        if window < 1:
            raise ValueError("the live score window must hold at least one score")
        self.window = window
        self.counts = [0] * SCORE_BINS
        self._bins: deque[int] = deque()

    def add(self, score: float) -> None:
        b = score_bin(score)
        self._bins.append(b)
        self.counts[b] += 1
        if len(self._bins) > self.window:
            self.counts[self._bins.popleft()] -= 1

    def clear(self) -> None:
        self.counts = [0] * SCORE_BINS
        self._bins.clear()

    def __len__(self) -> int:
        return len(self._bins)

    def psi_against(self, expected: Sequence[float] | None, min_scores: int) -> float:
        """PSI of the window against `expected`; NaN without training shares or under `min_scores`."""
        n = len(self._bins)
        if expected is None or n < min_scores or n == 0:
            return math.nan
        return psi(expected, [c / n for c in self.counts])
