"""Backtest metrics as plain functions of arrays: ranking quality, the operating point, card precision
per day and how long each compromised card stayed undetected. No I/O.

Card precision@k for one day, as an investigator queue sees it: each card counts once (its highest
score that day), cards whose fraud was already known (a label reported before the day started) are
left out since they are blocked anyway, the k highest-scored cards are taken, and the precision is
the share of them with a fraudulent swipe that day:

    day d         card  max score  fraud on d  known before d
                  c1    0.97       yes         no      <- taken
                  c2    0.95       yes         yes     <- skipped: already blocked
                  c3    0.60       no          no      <- taken        k = 2: precision 1/2
                  c4    0.10       yes         no
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_S = 86_400


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve; None without both classes."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if _both(y) else None


def average_precision(y: np.ndarray, scores: np.ndarray) -> float | None:
    """Average precision (the area under the step precision-recall curve); None without both classes."""
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, scores)) if _both(y) else None


def precision_recall_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) points from the highest threshold down; empty without both classes."""
    from sklearn.metrics import precision_recall_curve as curve

    if not _both(y):
        return np.array([]), np.array([])
    precision, recall, _ = curve(y, scores)
    return precision[::-1], recall[::-1]


def _both(y: np.ndarray) -> bool:
    return bool(y.any()) and not bool(y.all())


@dataclass(frozen=True)
class OperatingCounts:
    """Swipes flagged (score at or above the threshold, or denied) against the truth."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        fraud = self.true_positives + self.false_negatives
        return self.true_positives / fraud if fraud else 0.0


def operating_counts(y: np.ndarray, flagged: np.ndarray) -> OperatingCounts:
    y, flagged = y.astype(bool), flagged.astype(bool)
    return OperatingCounts(int((y & flagged).sum()), int((~y & flagged).sum()), int((y & ~flagged).sum()))


@dataclass(frozen=True)
class DailyCardPrecision:
    day_start: float  # epoch seconds of the day's 00:00 UTC
    cards: int  # cards with a swipe that day and not known compromised before it
    compromised: int  # of those, cards with a fraudulent swipe that day
    taken: int  # min(k, cards)
    hits: int  # compromised cards among the k highest-scored

    @property
    def precision(self) -> float:
        return self.hits / self.taken if self.taken else 0.0

    @property
    def best(self) -> float:
        """The precision of a perfect ranking: with fewer compromised cards than k, less than 1."""
        return min(self.compromised, self.taken) / self.taken if self.taken else 0.0


def card_precision_at_k(
    t: np.ndarray,
    card: np.ndarray,
    scores: np.ndarray,
    y: np.ndarray,
    known_at: Mapping[str, float],
    k: int,
) -> list[DailyCardPrecision]:
    """Card precision@k for each UTC day with swipes (see the module docstring).

    `t` are event times (epoch seconds), `known_at` the first time each card's fraud was reported
    (cards never reported are absent). Ties in score are broken by card, so the result is stable.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    frame = pd.DataFrame(
        {"day": np.floor(t / DAY_S) * DAY_S, "card": card, "score": scores, "fraud": y.astype(bool)}
    )
    per_card = frame.groupby(["day", "card"], sort=True).agg(score=("score", "max"), fraud=("fraud", "any"))
    per_card = per_card.reset_index()
    known = per_card["card"].map(known_at).astype("float64")
    per_card = per_card[~(known < per_card["day"])]  # NaN (never reported) compares False: kept
    out = []
    for day, cards in per_card.groupby("day", sort=True):
        ranked = cards.sort_values(["score", "card"], ascending=[False, True], kind="mergesort")
        top = ranked.head(k)
        out.append(
            DailyCardPrecision(
                day_start=float(day),
                cards=len(cards),
                compromised=int(cards["fraud"].sum()),
                taken=len(top),
                hits=int(top["fraud"].sum()),
            )
        )
    return out


def mean_card_precision(days: list[DailyCardPrecision], *, best: bool = False) -> float | None:
    """The mean of the daily precisions (or of the best possible) over days with a compromised card."""
    with_fraud = [d.best if best else d.precision for d in days if d.compromised]
    return float(np.mean(with_fraud)) if with_fraud else None


@dataclass(frozen=True)
class CardDetection:
    """One compromised card: from its first fraudulent swipe to the first swipe denied after it."""

    card: str
    first_fraud_t: float
    detected_t: float | None  # None: never denied
    fraud_swipes: int
    fraud_approved: int  # fraudulent swipes approved (before detection and after)

    @property
    def delay_s(self) -> float | None:
        return None if self.detected_t is None else self.detected_t - self.first_fraud_t


def detection_delays(
    t: np.ndarray, card: np.ndarray, y: np.ndarray, denied: np.ndarray
) -> list[CardDetection]:
    """Per card with a fraudulent swipe: the time from its first fraudulent swipe to its first denial.

    A denial counts from the first fraudulent swipe on (that swipe included), whether the denied swipe
    is fraudulent or not: the card is blocked either way. Ordered by first fraud time, then card.
    """
    frame = pd.DataFrame({"t": t, "card": card, "fraud": y.astype(bool), "denied": denied.astype(bool)})
    first = frame[frame["fraud"]].groupby("card")["t"].min()
    out = []
    for token, swipes in frame[frame["card"].isin(first.index)].groupby("card"):
        first_t = first[token]
        own = swipes[swipes["t"] >= first_t]
        denials = own.loc[own["denied"], "t"]
        fraud = own[own["fraud"]]
        out.append(
            CardDetection(
                card=str(token),
                first_fraud_t=float(first_t),
                detected_t=float(denials.min()) if len(denials) else None,
                fraud_swipes=len(fraud),
                fraud_approved=int((~fraud["denied"]).sum()),
            )
        )
    return sorted(out, key=lambda d: (d.first_fraud_t, d.card))


def median_delay_s(detections: list[CardDetection]) -> float | None:
    delays = [d.delay_s for d in detections if d.delay_s is not None]
    return float(np.median(delays)) if delays else None
