"""Sampling the precision-recall curve for the report's plot; the breakdown by scenario."""

from __future__ import annotations

import numpy as np
import pytest

from services.backtest.metrics import NO_SCENARIO, curve_points, scenario_breakdown


def test_the_curve_keeps_its_recall_steps_and_both_ends() -> None:
    #  index   0    1    2    3    4    5    6
    #  recall  0    0    .5   .5   1    1    1     steps at 0, 2, 4; the last point at 6
    recall = np.array([0, 0, 0.5, 0.5, 1, 1, 1])
    assert curve_points(recall, 10).tolist() == [0, 2, 4, 6]
    assert curve_points(recall, 3).tolist() == [0, 2, 6]  # evenly among the steps, ends kept
    assert curve_points(np.array([]), 3).tolist() == []


# rows    0     1     2     3     4     5
# y       1     1     1     0     0     0
# scen    stol  stol  term  -     -     -        (the scenario of a legitimate row is never read)
# card    a     a     b     c     d     e
# score   .9    .2    .7    .8    .1    .3       threshold .5: flagged 0, 2, 3
# stolen: its frauds (.9, .2) against the legit (.8, .3, .1): ranked 1st and 4th,
#   AP 1/1 * 1/2 + 2/4 * 1/2 = .75, AUC (3 + 1) / 6, recall 1/2
# terminal: (.7) against the legit: ranked second after .8: AP 1/2, recall 1
def test_the_breakdown_sets_each_scenario_against_every_legitimate_swipe() -> None:
    y = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    scores = np.array([0.9, 0.2, 0.7, 0.8, 0.1, 0.3])
    scenario = np.array(["stolen_card", "stolen_card", "terminal_compromise", None, "x", None], dtype=object)
    card = np.array(list("aabcde"), dtype=object)
    rows = scenario_breakdown(y, scores, scores >= 0.5, scenario, card)
    assert [(r.scenario, r.fraud_swipes, r.cards, r.cards_flagged) for r in rows] == [
        ("stolen_card", 2, 1, 1),
        ("terminal_compromise", 1, 1, 1),
    ]
    stolen, terminal = rows
    assert stolen.average_precision == pytest.approx(0.75) and stolen.recall == 0.5
    assert stolen.roc_auc == pytest.approx(4 / 6)
    assert terminal.average_precision == pytest.approx(0.5) and terminal.recall == 1.0


def test_a_fraud_without_a_scenario_is_its_own_group() -> None:
    y = np.array([1, 0], dtype=bool)
    rows = scenario_breakdown(
        y, np.array([0.6, 0.4]), np.array([True, False]), np.array([None, None]), np.array(["a", "b"])
    )
    assert [(r.scenario, r.average_precision) for r in rows] == [(NO_SCENARIO, 1.0)]
