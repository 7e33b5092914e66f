"""One scored test period turned into the backtest's figures and plot data (`scoring.evaluation`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from scoring.evaluation import (
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
from services.backtest_features import FeatureTable

CURVE_POINTS = 400
HISTOGRAM_BINS = 40


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
) -> ModelEval:
    """Every figure of the report for one scorer's `scores` and `denied` flags on the `test` rows."""
    y = test.y
    precision, recall = precision_recall_curve(y, scores)
    keep = curve_points(recall, CURVE_POINTS)
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    fresh = np.array([not first_known.get(c, np.inf) < test_start for c in test.card.tolist()], dtype=bool)
    return ModelEval(
        name=name,
        roc_auc=roc_auc(y, scores),
        average_precision=average_precision(y, scores),
        threshold=threshold,
        at_threshold=operating_counts(y, scores >= threshold),
        denied=operating_counts(y, denied),
        k=k,
        daily=card_precision_at_k(test.t, test.card, scores, y, first_known, k),
        detections=detection_delays(test.t[fresh], test.card[fresh], y[fresh], denied[fresh]),
        curve=([float(recall[i]) for i in keep], [float(precision[i]) for i in keep]),
        histogram_fraud=np.histogram(scores[y], edges)[0].tolist(),
        histogram_legit=np.histogram(scores[~y], edges)[0].tolist(),
    )
