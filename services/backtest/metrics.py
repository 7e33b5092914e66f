"""One scored test period turned into the backtest's figures and plot data (`scoring.training.evaluation`),
their bootstrap intervals (`services.backtest.bootstrap`) and the breakdown by scenario."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.training.evaluation import (
    CardDetection,
    DailyCardPrecision,
    OperatingCounts,
    average_precision,
    card_precision_at_k,
    detection_delays,
    mean_card_precision,
    median_delay_s,
    operating_counts,
    precision_recall_curve,
    roc_auc,
)
from services.backtest.bootstrap import (
    DAY_S,
    CardDays,
    Interval,
    KnownCards,
    Unit,
    bootstrap_intervals,
    daily_counts,
)
from services.backtest.features import FeatureTable

CURVE_POINTS = 400
HISTOGRAM_BINS = 40
NO_SCENARIO = "(none)"  # a fraud whose scenario cell is empty


@dataclass(frozen=True)
class Resampling:
    """How the intervals are drawn: `replicates` resamples by `unit`, a `level` percentile interval."""

    replicates: int = 200
    unit: Unit = "card"
    level: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class ScenarioFigures:
    """How one scorer did on one scenario's frauds, each set against every legitimate test swipe."""

    scenario: str
    fraud_swipes: int
    cards: int
    average_precision: float | None
    roc_auc: float | None
    recall: float  # of its fraudulent swipes, the share at or above the threshold
    cards_flagged: int  # of its cards, those with a fraudulent swipe at or above the threshold


def scenario_breakdown(
    y: np.ndarray, scores: np.ndarray, flagged: np.ndarray, scenario: np.ndarray, card: np.ndarray
) -> list[ScenarioFigures]:
    """Per scenario of the fraudulent rows (most swipes first): its frauds against all legitimate rows.

    `scenario` is read for fraud rows only; an empty one is `NO_SCENARIO`.
    """
    y = y.astype(bool)
    names = pd.Series(scenario, dtype=object).fillna("").astype(str).replace("", NO_SCENARIO).to_numpy()
    out = []
    for name in pd.unique(names[y]):
        mine = y & (names == name)
        keep = mine | ~y
        out.append(
            ScenarioFigures(
                scenario=str(name),
                fraud_swipes=int(mine.sum()),
                cards=len(set(card[mine].tolist())),
                average_precision=average_precision(y[keep], scores[keep]),
                roc_auc=roc_auc(y[keep], scores[keep]),
                recall=float(flagged[mine].mean()),
                cards_flagged=len(set(card[mine & flagged].tolist())),
            )
        )
    return sorted(out, key=lambda f: (-f.fraud_swipes, f.scenario))


@dataclass(frozen=True)
class ModelEval:
    """What one scorer (the model, or the baseline) achieved on the test period."""

    name: str
    roc_auc: float | None
    average_precision: float | None
    threshold: float
    at_threshold: OperatingCounts  # score >= threshold
    denied: OperatingCounts  # the decisions (the model with the rules, for the model)
    k: int
    daily: list[DailyCardPrecision]
    detections: list[CardDetection]  # cards not known compromised before the test period
    curve: tuple[list[float], list[float]]  # (recall, precision), at most CURVE_POINTS points
    histogram_fraud: list[int]  # HISTOGRAM_BINS bins over [0, 1]
    histogram_legit: list[int]
    intervals: dict[str, Interval | None] = field(default_factory=dict)  # by ModelEval attribute name
    resampling: Resampling | None = None
    breakdown: list[ScenarioFigures] = field(default_factory=list)  # empty without a scenario column

    @property
    def card_precision(self) -> float | None:
        return mean_card_precision(self.daily)

    @property
    def card_precision_best(self) -> float | None:
        return mean_card_precision(self.daily, best=True)

    @property
    def detected_at_once(self) -> int:
        """Compromised cards whose first fraudulent swipe was already denied."""
        return sum(d.delay_s == 0 for d in self.detections)

    @property
    def fraud_approved(self) -> int:
        return sum(d.fraud_approved for d in self.detections)

    @property
    def median_delay_s(self) -> float | None:
        return median_delay_s(self.detections)

    @property
    def detected(self) -> int:
        return sum(d.detected_t is not None for d in self.detections)


def found_daily(
    test: FeatureTable, scores: np.ndarray, known_before: Mapping[str, float], k: int
) -> list[DailyCardPrecision]:
    """Daily card precision@k leaving out the cards an earlier day's top k found (and `known_before`)."""
    codes, names = pd.factorize(pd.Series(test.card, dtype=object))
    cd = CardDays.of(test.t, codes, np.asarray(names, dtype=object), scores, test.y, known_before)
    hits, taken, compromised, cards = daily_counts(cd, k, np.ones(len(names)), "found")
    return [
        DailyCardPrecision(float(day * DAY_S), int(n), int(c), int(t), int(h))
        for day, n, c, t, h in zip(cd.day_numbers.tolist(), cards, compromised, taken, hits, strict=True)
    ]


def curve_points(recall: np.ndarray, most: int) -> np.ndarray:
    """Indices of the curve's steps (where recall grows), at most `most` of them evenly, ends kept.

    Most of a precision-recall curve's points are the long tail of low scores at full recall;
    picking evenly among the recall steps keeps the curve's shape where the frauds are.
    """
    if not len(recall):
        return np.zeros(0, dtype=int)
    steps = np.union1d(np.flatnonzero(np.diff(recall, prepend=-1.0) > 0), [0, len(recall) - 1])
    if len(steps) > most:
        steps = steps[np.unique(np.linspace(0, len(steps) - 1, most).astype(int))]
    return steps


def evaluate(
    name: str,
    test: FeatureTable,
    scores: np.ndarray,
    threshold: float,
    denied: np.ndarray,
    first_known: Mapping[str, float],
    k: int,
    test_start: float,
    *,
    resampling: Resampling | None = None,
    scenario: np.ndarray | None = None,
    known_cards: KnownCards = "reported",
) -> ModelEval:
    """Every figure of the report for one scorer's `scores` and `denied` flags on the `test` rows.

    With `resampling`, bootstrap intervals of AUC, AP and card precision@k; with `scenario` (per
    test row), the breakdown by scenario. `known_cards` says which cards card precision leaves out
    (`services.backtest.bootstrap.daily_counts`).
    """
    y = test.y
    if known_cards == "found":  # only what was reported before the test; the queue finds the rest
        first_known = {c: at for c, at in first_known.items() if at < test_start}
        daily = found_daily(test, scores, first_known, k)
    else:
        daily = card_precision_at_k(test.t, test.card, scores, y, first_known, k)
    precision, recall = precision_recall_curve(y, scores)
    keep = curve_points(recall, CURVE_POINTS)
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    fresh = np.array([not first_known.get(c, np.inf) < test_start for c in test.card.tolist()], dtype=bool)
    intervals: dict[str, Interval | None] = {}
    if resampling is not None and resampling.replicates > 0:
        rng = np.random.default_rng(resampling.seed)
        intervals = bootstrap_intervals(
            test.t,
            test.card,
            scores,
            y,
            first_known,
            k,
            rng,
            replicates=resampling.replicates,
            level=resampling.level,
            unit=resampling.unit,
            known=known_cards,
        )
    flagged = scores >= threshold
    return ModelEval(
        name=name,
        roc_auc=roc_auc(y, scores),
        average_precision=average_precision(y, scores),
        threshold=threshold,
        at_threshold=operating_counts(y, flagged),
        denied=operating_counts(y, denied),
        k=k,
        daily=daily,
        detections=detection_delays(test.t[fresh], test.card[fresh], y[fresh], denied[fresh]),
        curve=([float(recall[i]) for i in keep], [float(precision[i]) for i in keep]),
        histogram_fraud=np.histogram(scores[y], edges)[0].tolist(),
        histogram_legit=np.histogram(scores[~y], edges)[0].tolist(),
        intervals=intervals,
        resampling=resampling,
        breakdown=[] if scenario is None else scenario_breakdown(y, scores, flagged, scenario, test.card),
    )
