"""Bootstrap confidence intervals for the backtest's AUC, AP and card precision@k: pure functions.

Resampling is by **card** by default: the test's cards are drawn with replacement and every swipe
of a drawn card comes along, as many times as the card was drawn. Fraud is clustered by card (a
stolen card's dozen swipes stand or fall together) and card precision@k counts cards, so swipes are
not independent units, while cards nearly are. A test period of a week has only seven days, too
few units for a day bootstrap to give a stable interval, but `unit="day"` is there for long test
periods: then whole days are drawn, which keeps each day's ranking intact and captures day-to-day
swings (a campaign that hits one day). Neither captures what links cards to each other, such as
a terminal compromise that touches many cards at once; the interval is then too narrow.

Every replicate is a weight per row, never a copied table: with weights the metrics are

    AUC   trapezoid area under the weighted ROC curve (ties share one step, as scikit-learn)
    AP    sum over thresholds of (weighted recall step) x (weighted precision), scikit-learn's AP
    CP@k  per day, a card drawn m times takes m of the k slots; the mean over the days that have
          a drawn compromised card (card unit), or each day counted as often as it was drawn (day unit)

Card precision leaves out the cards already known compromised, in one of two ways (`KnownCards`):
"reported", a fraud label of the card was reported before the day (the backtest's default), or
"found", the card was a hit in an earlier test day's top k (what an investigation queue learns by
itself), or reported before the test began.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

DAY_S = 86_400
Unit = Literal["card", "day"]
KnownCards = Literal["reported", "found"]


@dataclass(frozen=True)
class Interval:
    """A percentile interval of `level` from `replicates` resamples (those where the figure exists)."""

    low: float
    high: float
    level: float
    replicates: int


@dataclass(frozen=True)
class Ranking:
    """Rows sorted by score, highest first, with where each group of tied scores ends."""

    order: np.ndarray
    y: np.ndarray  # float, in `order`
    group_end: np.ndarray  # bool, True at the last row of each tie group

    @classmethod
    def of(cls, y: np.ndarray, scores: np.ndarray) -> Ranking:
        order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")
        s = np.asarray(scores, dtype=float)[order]
        return cls(order, np.asarray(y, dtype=float)[order], np.r_[s[1:] != s[:-1], True])


def weighted_auc_ap(ranking: Ranking, weights: np.ndarray) -> tuple[float | None, float | None]:
    """(ROC AUC, average precision) of the ranking with a weight per row; None without both classes."""
    w = np.asarray(weights, dtype=float)[ranking.order]
    tp = np.cumsum(w * ranking.y)[ranking.group_end]
    fp = np.cumsum(w * (1.0 - ranking.y))[ranking.group_end]
    positives, negatives = (tp[-1], fp[-1]) if len(tp) else (0.0, 0.0)
    if positives <= 0 or negatives <= 0:
        return None, None
    tpr, fpr = np.r_[0.0, tp / positives], np.r_[0.0, fp / negatives]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    flagged = tp + fp
    precision = np.divide(tp, flagged, out=np.zeros_like(tp), where=flagged > 0)
    ap = float(np.sum(np.diff(np.r_[0.0, tp / positives]) * precision))
    return auc, ap


@dataclass(frozen=True)
class CardDays:
    """One row per (test day, card) not known compromised before the day: its best score and fraud.

    Rows are sorted by day, then score (highest first), then card, the order card precision@k takes.
    """

    day: np.ndarray  # int, index into `day_numbers`
    card: np.ndarray  # int, index into the test's cards
    fraud: np.ndarray  # bool: the card had a fraudulent swipe that day
    day_numbers: np.ndarray  # int, days since the epoch (UTC) that have a row

    @property
    def days(self) -> int:
        return len(self.day_numbers)

    @classmethod
    def of(
        cls,
        t: np.ndarray,
        card_codes: np.ndarray,
        card_names: np.ndarray,
        scores: np.ndarray,
        y: np.ndarray,
        known_at: Mapping[str, float],
    ) -> CardDays:
        day_number = np.floor(np.asarray(t, dtype=float) / DAY_S).astype(np.int64)
        frame = pd.DataFrame(
            {"day": day_number, "card": card_codes, "score": scores, "fraud": y.astype(bool)}
        )
        per = frame.groupby(["day", "card"], sort=True).agg(score=("score", "max"), fraud=("fraud", "any"))
        per = per.reset_index()
        known = pd.Series(card_names[per["card"].to_numpy()]).map(known_at).astype("float64").to_numpy()
        per = per[~(known < per["day"].to_numpy() * DAY_S)]  # NaN (never reported) compares False: kept
        per = per.assign(name=card_names[per["card"].to_numpy()])
        per = per.sort_values(["day", "score", "name"], ascending=[True, False, True], kind="mergesort")
        days, day_index = np.unique(per["day"].to_numpy(), return_inverse=True)
        card_index, fraud = per["card"].to_numpy(np.int64), per["fraud"].to_numpy(bool)
        return cls(day_index.astype(np.int64), card_index, fraud, days.astype(np.int64))


def _slots(w: np.ndarray, k: int) -> np.ndarray:
    """Of rows in rank order with `w` copies each, how many of the k slots each row's copies take."""
    cum = np.cumsum(w)
    return np.asarray(np.minimum(cum, k) - np.minimum(cum - w, k))


def daily_counts(
    cd: CardDays, k: int, card_weight: np.ndarray, known: KnownCards = "reported"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per day: (hits, taken, compromised, cards) with `card_weight` copies of each card.

    `known="reported"`: `cd` already left out the cards known before each day. `"found"`: also
    leave out, from the next day on, every compromised card a day's top k held (the investigators
    found it), which needs the days one after the other.
    """
    w_all = np.asarray(card_weight, dtype=float)[cd.card]
    if known == "reported":
        day_first = np.r_[True, cd.day[1:] != cd.day[:-1]] if len(w_all) else np.zeros(0, bool)
        cum = np.cumsum(w_all)
        before_day = np.maximum.accumulate(np.where(day_first, cum - w_all, 0.0)) if len(w_all) else cum
        inside = cum - before_day  # cumulative weight within the row's own day
        slots = np.minimum(inside, k) - np.minimum(inside - w_all, k)
        hits = np.bincount(cd.day, weights=slots * cd.fraud, minlength=cd.days)
        total = np.bincount(cd.day, weights=w_all, minlength=cd.days)
        compromised = np.bincount(cd.day, weights=w_all * cd.fraud, minlength=cd.days)
        return hits, np.minimum(total, k), compromised, total
    if known != "found":
        raise ValueError(f"known cards are reported or found, not {known!r}")
    found = np.zeros(int(cd.card.max()) + 1 if len(cd.card) else 0, dtype=bool)
    bounds = np.searchsorted(cd.day, np.arange(cd.days + 1))
    out = np.zeros((4, cd.days))
    for d in range(cd.days):
        cards, fraud = cd.card[bounds[d] : bounds[d + 1]], cd.fraud[bounds[d] : bounds[d + 1]]
        w = w_all[bounds[d] : bounds[d + 1]] * ~found[cards]
        slots = _slots(w, k)
        out[:, d] = (slots * fraud).sum(), min(w.sum(), k), (w * fraud).sum(), w.sum()
        found[cards[(slots > 0) & fraud]] = True
    return out[0], out[1], out[2], out[3]


def weighted_card_precision(
    cd: CardDays, k: int, card_weight: np.ndarray, day_weight: np.ndarray, known: KnownCards = "reported"
) -> float | None:
    """Mean daily card precision@k with card `card_weight` copies per card and `day_weight` per day.

    All weights 1 give `scoring.training.evaluation.mean_card_precision` of `card_precision_at_k` (known
    "reported"): the mean over the days with a (drawn) compromised card.
    """
    if not len(cd.card):
        return None
    hits, taken, compromised, _ = daily_counts(cd, k, card_weight, known)
    dw = np.asarray(day_weight, dtype=float) * (compromised > 0)
    if dw.sum() <= 0:
        return None
    precision = np.divide(hits, taken, out=np.zeros_like(hits), where=taken > 0)
    return float(np.sum(precision * dw) / dw.sum())


def percentile_interval(values: list[float], level: float) -> Interval | None:
    if not values:
        return None
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(values), [tail, 1.0 - tail])
    return Interval(float(low), float(high), level, len(values))


def bootstrap_intervals(
    t: np.ndarray,
    card: np.ndarray,
    scores: np.ndarray,
    y: np.ndarray,
    known_at: Mapping[str, float],
    k: int,
    rng: np.random.Generator,
    *,
    replicates: int = 200,
    level: float = 0.95,
    unit: Unit = "card",
    known: KnownCards = "reported",
) -> dict[str, Interval | None]:
    """Intervals of "roc_auc", "average_precision" and "card_precision" over `replicates` resamples.

    `known_at` and `known` are card precision's: see `daily_counts`.
    """
    if not 0 < level < 1:
        raise ValueError(f"the confidence level must be between 0 and 1, got {level}")
    if unit not in ("card", "day"):
        raise ValueError(f"bootstrap unit must be card or day, not {unit!r}")
    codes, names = pd.factorize(pd.Series(card, dtype=object))
    names = np.asarray(names, dtype=object)
    day_of_row = np.floor(np.asarray(t, dtype=float) / DAY_S).astype(np.int64)
    days, day_code = np.unique(day_of_row, return_inverse=True)
    ranking = Ranking.of(y, scores)
    cd = CardDays.of(t, codes, names, scores, y, known_at)
    cd_day_code = np.searchsorted(days, cd.day_numbers)  # each CardDays day among the test's days
    out: dict[str, list[float]] = {"roc_auc": [], "average_precision": [], "card_precision": []}
    units = len(names) if unit == "card" else len(days)
    for _ in range(replicates):
        drawn = np.bincount(rng.integers(0, units, size=units), minlength=units).astype(float)
        if unit == "card":
            row_w, card_w, day_w = drawn[codes], drawn, np.ones(cd.days)
        else:
            row_w, card_w, day_w = drawn[day_code], np.ones(len(names)), drawn[cd_day_code]
        auc, ap = weighted_auc_ap(ranking, row_w)
        cp = weighted_card_precision(cd, k, card_w, day_w, known)
        for key, value in (("roc_auc", auc), ("average_precision", ap), ("card_precision", cp)):
            if value is not None:
                out[key].append(value)
    return {key: percentile_interval(values, level) for key, values in out.items()}
