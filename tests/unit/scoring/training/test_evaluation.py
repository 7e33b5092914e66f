"""Backtest metrics on small hand-computed tables."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.training.evaluation import (
    DAY_S,
    average_precision,
    card_precision_at_k,
    detection_delays,
    mean_card_precision,
    median_delay_s,
    operating_counts,
    precision_recall_curve,
    roc_auc,
)

Y = np.array([True, False, True, False])
S = np.array([0.9, 0.8, 0.7, 0.1])


def test_auc_counts_the_pairs_ranked_right() -> None:
    # fraud 0.9 beats both legit; fraud 0.7 beats 0.1 but not 0.8: 3 of 4 pairs
    assert roc_auc(Y, S) == pytest.approx(0.75)


def test_average_precision_is_the_mean_precision_at_each_fraud() -> None:
    # ranked: fraud (1/1), legit, fraud (2/3), legit
    assert average_precision(Y, S) == pytest.approx((1.0 + 2 / 3) / 2)


def test_ranking_metrics_need_both_classes() -> None:
    ones = np.ones(3, dtype=bool)
    assert roc_auc(ones, S[:3]) is None
    assert average_precision(~ones, S[:3]) is None
    assert precision_recall_curve(ones, S[:3])[0].size == 0


def test_precision_recall_curve_runs_from_the_highest_threshold_down() -> None:
    precision, recall = precision_recall_curve(Y, S)
    assert recall[0] == 0.0 and recall[-1] == 1.0
    assert list(precision[1:3]) == [1.0, 0.5]  # after 0.9: 1 of 1; after 0.8: 1 of 2


@pytest.mark.parametrize(
    ("flagged", "tp", "fp", "fn", "precision", "recall"),
    [
        ([1, 1, 1, 1], 2, 2, 0, 0.5, 1.0),
        ([1, 0, 0, 0], 1, 0, 1, 1.0, 0.5),
        ([0, 0, 0, 0], 0, 0, 2, 0.0, 0.0),
        ([0, 1, 0, 1], 0, 2, 2, 0.0, 0.0),
    ],
)
def test_operating_counts(
    flagged: list[int], tp: int, fp: int, fn: int, precision: float, recall: float
) -> None:
    counts = operating_counts(Y, np.array(flagged, dtype=bool))
    assert (counts.true_positives, counts.false_positives, counts.false_negatives) == (tp, fp, fn)
    assert (counts.precision, counts.recall) == (precision, recall)


def _day(d: int, hour: float = 12.0) -> float:
    return d * DAY_S + hour * 3600


def test_card_precision_counts_each_card_once_and_skips_known_cards() -> None:
    #  day 0   card  swipes (score, fraud)              max    fraud  known before day 0
    #          c1    (0.20, no) (0.97, yes)              0.97   yes    no      <- taken
    #          c2    (0.95, yes)                         0.95   yes    yes     <- skipped
    #          c3    (0.60, no) (0.50, no)               0.60   no     no      <- taken
    #          c4    (0.10, yes)                         0.10   yes    no
    #  k = 2: hits 1 of 2
    rows = [
        ("c1", 0.20, False),
        ("c1", 0.97, True),
        ("c2", 0.95, True),
        ("c3", 0.60, False),
        ("c3", 0.50, False),
        ("c4", 0.10, True),
    ]
    t = np.array([_day(0, h) for h in range(len(rows))])
    card = np.array([r[0] for r in rows], dtype=object)
    scores = np.array([r[1] for r in rows])
    y = np.array([r[2] for r in rows])
    [day] = card_precision_at_k(t, card, scores, y, {"c2": _day(-1)}, k=2)
    assert (day.cards, day.compromised, day.taken, day.hits) == (3, 2, 2, 1)
    assert (day.precision, day.best) == (0.5, 1.0)


def test_a_card_reported_during_a_day_counts_that_day_and_not_after() -> None:
    #  c1 fraud on day 0, reported at noon on day 0; scored again on day 1 (no fraud that day)
    t = np.array([_day(0, 9), _day(0, 10), _day(1, 9), _day(1, 10)])
    card = np.array(["c1", "c2", "c1", "c2"], dtype=object)
    scores = np.array([0.9, 0.1, 0.9, 0.2])
    y = np.array([True, False, False, False])
    days = card_precision_at_k(t, card, scores, y, {"c1": _day(0, 12)}, k=1)
    assert [(d.cards, d.hits, d.precision) for d in days] == [(2, 1, 1.0), (1, 0, 0.0)]
    # day 1 has no compromised card: it does not enter the mean
    assert mean_card_precision(days) == 1.0


def test_card_precision_takes_fewer_than_k_on_a_quiet_day() -> None:
    t = np.array([_day(3), _day(3)])
    days = card_precision_at_k(
        t, np.array(["a", "b"], dtype=object), np.array([0.5, 0.4]), np.array([1, 0]), {}, k=100
    )
    assert (days[0].taken, days[0].hits, days[0].precision) == (2, 1, 0.5)
    assert mean_card_precision(days, best=True) == 0.5  # one compromised card of two: the ceiling


def test_card_precision_breaks_score_ties_by_card() -> None:
    t = np.array([_day(0)] * 3)
    card = np.array(["b", "a", "c"], dtype=object)
    y = np.array([False, True, False])
    [day] = card_precision_at_k(t, card, np.array([0.5, 0.5, 0.5]), y, {}, k=1)
    assert day.hits == 1  # "a" first


def test_detection_delay_from_first_fraud_to_first_denial() -> None:
    #  t     100        200      300       400
    #  A     fraud/ok   fraud/deny fraud/ok          -> detected at 200, delay 100, 2 approved
    #  B     deny (legit, before its fraud)  fraud/ok at 300, fraud/ok at 400 -> never
    #  C     legit only                                -> not a compromised card
    t = np.array([100, 200, 300, 50, 300, 400, 120], dtype=float)
    card = np.array(["A", "A", "A", "B", "B", "B", "C"], dtype=object)
    y = np.array([1, 1, 1, 0, 1, 1, 0], dtype=bool)
    denied = np.array([0, 1, 0, 1, 0, 0, 1], dtype=bool)
    a, b = detection_delays(t, card, y, denied)
    assert (a.card, a.first_fraud_t, a.detected_t, a.delay_s, a.fraud_swipes, a.fraud_approved) == (
        "A",
        100.0,
        200.0,
        100.0,
        3,
        2,
    )
    assert (b.card, b.detected_t, b.delay_s, b.fraud_approved) == ("B", None, None, 2)
    assert median_delay_s([a, b]) == 100.0


def test_a_denial_of_the_first_fraudulent_swipe_is_no_delay() -> None:
    [d] = detection_delays(
        np.array([10.0]), np.array(["A"], dtype=object), np.array([True]), np.array([True])
    )
    assert d.delay_s == 0.0 and d.fraud_approved == 0


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be"):
        card_precision_at_k(np.array([0.0]), np.array(["a"]), np.array([0.1]), np.array([True]), {}, k=0)
