"""Weighted metrics and bootstrap intervals as tables: tiny hand-made rankings with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from scoring.training.evaluation import card_precision_at_k, mean_card_precision
from services.backtest.bootstrap import (
    DAY_S,
    CardDays,
    Ranking,
    bootstrap_intervals,
    daily_counts,
    percentile_interval,
    weighted_auc_ap,
    weighted_card_precision,
)


# y       1    0    1    0
# score   .9   .8   .7   .1
# AUC: of the 2 x 2 (fraud, legit) pairs, .9 > .8, .9 > .1, .7 > .1 are ordered right: 3/4
# AP:  recall .5 at precision 1, recall 1 at precision 2/3: .5 * 1 + .5 * 2/3 = 5/6
# weight 2 on the .7 fraud: AUC (1*2 + 2*1) / (3 * 2) = 2/3; AP 1/3 * 1 + 2/3 * 3/4 = 5/6
# weight 0 on the .8 legit: nothing is out of order, AUC 1 and AP 1
@pytest.mark.parametrize(
    ("weights", "auc", "ap"),
    [
        ([1, 1, 1, 1], 3 / 4, 5 / 6),
        ([1, 1, 2, 1], 2 / 3, 5 / 6),
        ([1, 0, 1, 1], 1.0, 1.0),
        ([0, 1, 0, 1], None, None),  # no fraud left
    ],
)
def test_weighted_auc_and_ap(weights: list[float], auc: float | None, ap: float | None) -> None:
    ranking = Ranking.of(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1]))
    got_auc, got_ap = weighted_auc_ap(ranking, np.array(weights, dtype=float))
    assert got_auc == (None if auc is None else pytest.approx(auc))
    assert got_ap == (None if ap is None else pytest.approx(ap))


def test_tied_scores_share_one_step() -> None:
    # a fraud and a legit swipe with the same score: half the pair is right, precision 1/2 at recall 1
    ranking = Ranking.of(np.array([1, 0]), np.array([0.5, 0.5]))
    assert weighted_auc_ap(ranking, np.ones(2)) == (pytest.approx(0.5), pytest.approx(0.5))


def test_weighted_metrics_are_scikit_learns_with_sample_weights() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.1
    scores = np.round(rng.random(500) + 0.5 * y, 2)  # rounded: many ties
    weights = rng.integers(0, 4, 500).astype(float)
    auc, ap = weighted_auc_ap(Ranking.of(y, scores), weights)
    assert auc == pytest.approx(roc_auc_score(y, scores, sample_weight=weights))
    assert ap == pytest.approx(average_precision_score(y, scores, sample_weight=weights))


# One day, k = 2 (scoring.training.evaluation's docstring example):
#   card  max score  fraud  known before
#   c1    .97        yes    no
#   c2    .95        yes    yes    <- left out
#   c3    .60        no     no
#   c4    .10        yes    no
DAY = 20_000 * DAY_S
T = np.array([DAY + 10, DAY + 20, DAY + 30, DAY + 40, DAY + 50])
CARD = np.array(["c1", "c2", "c3", "c4", "c1"], dtype=object)
SCORE = np.array([0.97, 0.95, 0.60, 0.10, 0.20])
FRAUD = np.array([True, True, False, True, False])
KNOWN = {"c2": DAY - 1.0}


def _card_days(t: np.ndarray = T, card: np.ndarray = CARD, score: np.ndarray = SCORE) -> CardDays:
    codes = np.array([int(str(c)[1:]) - 1 for c in card])
    return CardDays.of(t, codes, np.array(["c1", "c2", "c3", "c4"], dtype=object), score, FRAUD, KNOWN)


@pytest.mark.parametrize(
    ("card_weight", "precision"),
    [
        ([1, 1, 1, 1], 1 / 2),  # c1, c3
        ([0, 1, 1, 1], 1 / 2),  # c1 not drawn: c3, c4
        ([2, 1, 1, 1], 1.0),  # c1 drawn twice takes both slots
        ([1, 1, 3, 1], 1 / 2),  # c1, then one of c3's three copies
        ([0, 1, 1, 0], None),  # no drawn compromised card that day: the day does not count
    ],
)
def test_card_precision_with_card_copies(card_weight: list[float], precision: float | None) -> None:
    got = weighted_card_precision(_card_days(), 2, np.array(card_weight, dtype=float), np.ones(1))
    assert got == (None if precision is None else pytest.approx(precision))


def test_card_precision_with_all_weights_one_is_the_reports_figure() -> None:
    rng = np.random.default_rng(11)
    n = 400
    t = DAY + rng.uniform(0, 5 * DAY_S, n)
    card = np.array([f"c{i}" for i in rng.integers(0, 60, n)], dtype=object)
    score, fraud = rng.random(n), rng.random(n) < 0.15
    known = {"c3": DAY + 2 * DAY_S, "c7": DAY - 5.0}
    codes = np.array([int(c[1:]) for c in card])
    cd = CardDays.of(t, codes, np.array([f"c{i}" for i in range(60)], dtype=object), score, fraud, known)
    ours = weighted_card_precision(cd, 5, np.ones(60), np.ones(cd.days))
    assert ours == pytest.approx(mean_card_precision(card_precision_at_k(t, card, score, fraud, known, 5)))


def test_day_weights_count_a_day_as_often_as_it_was_drawn() -> None:
    # day 0: c1 is fraud and ranked first (precision 1 at k=1); day 1: c3 (legit) ranked first (0)
    t = np.array([DAY + 1, DAY + DAY_S + 1, DAY + DAY_S + 2])
    score = np.array([0.9, 0.8, 0.1])  # cards c1, c3, c4
    fraud = np.array([True, False, True])
    cd = CardDays.of(
        t, np.array([0, 2, 3]), np.array(["c1", "c2", "c3", "c4"], dtype=object), score, fraud, {}
    )
    assert weighted_card_precision(cd, 1, np.ones(4), np.array([1.0, 1.0])) == pytest.approx(0.5)
    assert weighted_card_precision(cd, 1, np.ones(4), np.array([3.0, 1.0])) == pytest.approx(0.75)
    assert weighted_card_precision(cd, 1, np.ones(4), np.array([0.0, 2.0])) == pytest.approx(0.0)


def test_percentile_interval_of_known_values() -> None:
    interval = percentile_interval([float(v) for v in range(101)], 0.9)
    assert interval is not None
    assert (interval.low, interval.high, interval.replicates) == (
        pytest.approx(5.0),
        pytest.approx(95.0),
        101,
    )
    assert percentile_interval([], 0.95) is None


def _world(cards: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    card_of = rng.integers(0, cards, 20 * cards)
    t = DAY + rng.uniform(0, 7 * DAY_S, len(card_of))
    compromised = rng.random(cards) < 0.1
    y = compromised[card_of] & (rng.random(len(card_of)) < 0.5)
    scores = np.clip(rng.normal(0.3 + 0.3 * y, 0.2), 0, 1)
    return t, np.array([f"c{i}" for i in card_of], dtype=object), scores, y


def test_the_interval_holds_the_estimate_is_seeded_and_narrows_with_more_cards() -> None:
    t, card, scores, y = _world(400, 1)
    a = bootstrap_intervals(t, card, scores, y, {}, 20, np.random.default_rng(5), replicates=100)
    b = bootstrap_intervals(t, card, scores, y, {}, 20, np.random.default_rng(5), replicates=100)
    assert a == b
    auc, ap = weighted_auc_ap(Ranking.of(y, scores), np.ones(len(y)))
    for key, value in (("roc_auc", auc), ("average_precision", ap)):
        interval = a[key]
        assert interval is not None and value is not None
        assert interval.low < value < interval.high and interval.replicates == 100
    big = bootstrap_intervals(*_world(4_000, 1), {}, 20, np.random.default_rng(5), replicates=100)
    for key in ("roc_auc", "average_precision"):
        small_i, big_i = a[key], big[key]
        assert small_i is not None and big_i is not None
        assert big_i.high - big_i.low < small_i.high - small_i.low


@pytest.mark.parametrize("unit", ["card", "day"])
def test_a_perfect_ranking_has_a_point_interval(unit: str) -> None:
    t, card, _, y = _world(300, 2)
    scores = y.astype(float)
    out = bootstrap_intervals(t, card, scores, y, {}, 5, np.random.default_rng(0), replicates=30, unit=unit)  # type: ignore[arg-type]
    for key in ("roc_auc", "average_precision"):
        interval = out[key]
        assert interval is not None and (interval.low, interval.high) == (1.0, 1.0)


def test_one_day_resampled_by_day_is_always_that_day() -> None:
    t, card, scores, y = _world(300, 4)
    t = DAY + (t - DAY) / 7  # everything on one day
    out = bootstrap_intervals(t, card, scores, y, {}, 5, np.random.default_rng(0), replicates=20, unit="day")
    auc, _ = weighted_auc_ap(Ranking.of(y, scores), np.ones(len(y)))
    interval = out["roc_auc"]
    assert interval is not None and interval.low == pytest.approx(auc) == interval.high


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"level": 1.0}, "between 0 and 1"), ({"unit": "week"}, "card or day")]
)
def test_bad_settings_say_what_is_allowed(kwargs: dict[str, object], message: str) -> None:
    t, card, scores, y = _world(50, 0)
    with pytest.raises(ValueError, match=message):
        bootstrap_intervals(t, card, scores, y, {}, 5, np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]


# k = 1, two days; "found" leaves out, from day 1 on, a compromised card day 0's top 1 held:
#
#   day 0                        day 1
#   c1  .90  fraud  <- top, hit   c1  .95  fraud   found on day 0: left out in "found"
#   c2  .50  legit                c2  .60  legit   <- top in "found": a miss
#   c4  .10  fraud                c4  .99  fraud   <- top either way while it scores .99 (never found)
FOUND_T = np.array([DAY + 1, DAY + 2, DAY + 3, DAY + DAY_S + 1, DAY + DAY_S + 2, DAY + DAY_S + 3])
FOUND_CARD = np.array([0, 1, 3, 0, 1, 3])
FOUND_FRAUD = np.array([True, False, True, True, False, True])
NAMES = np.array(["c1", "c2", "c3", "c4"], dtype=object)


@pytest.mark.parametrize(
    ("day1_scores", "known", "known_at", "precisions"),
    [
        ((0.95, 0.60, 0.99), "reported", {}, [1.0, 1.0]),  # nothing reported: c4 on top on day 1
        ((0.95, 0.60, 0.99), "found", {}, [1.0, 1.0]),  # c1 found, c4 (never found) still on top
        ((0.95, 0.60, 0.30), "found", {}, [1.0, 0.0]),  # c1 found and left out: c2 is on top
        ((0.95, 0.60, 0.30), "reported", {}, [1.0, 1.0]),  # c1 stays: on top again
        # c4's day-0 fraud reported at once: "reported" leaves it out of day 1, "found" keeps it
        ((0.50, 0.60, 0.99), "reported", {"c4": DAY + 3.0}, [1.0, 0.0]),
        ((0.50, 0.60, 0.99), "found", {}, [1.0, 1.0]),
    ],
)
def test_found_cards_leave_the_queue_after_the_day_they_were_found(
    day1_scores: tuple[float, float, float], known: str, known_at: dict[str, float], precisions: list[float]
) -> None:
    scores = np.array([0.90, 0.50, 0.10, *day1_scores])
    cd = CardDays.of(FOUND_T, FOUND_CARD, NAMES, scores, FOUND_FRAUD, known_at)
    hits, taken, _, _ = daily_counts(cd, 1, np.ones(4), known)  # type: ignore[arg-type]
    assert (hits / taken).tolist() == precisions


def test_found_with_copies_a_card_not_drawn_is_never_found() -> None:
    scores = np.array([0.90, 0.50, 0.10, 0.95, 0.60, 0.30])
    cd = CardDays.of(FOUND_T, FOUND_CARD, NAMES, scores, FOUND_FRAUD, {})
    # c1 not drawn: day 0's top is c2 (a miss), day 1's too
    assert weighted_card_precision(cd, 1, np.array([0.0, 1, 1, 1]), np.ones(2), "found") == 0.0
    # c1 drawn twice, k = 2: both slots on day 0 are c1 (2/2); on day 1 c2 and c4 remain (1/2)
    assert weighted_card_precision(cd, 2, np.array([2.0, 1, 1, 1]), np.ones(2), "found") == pytest.approx(
        0.75
    )
