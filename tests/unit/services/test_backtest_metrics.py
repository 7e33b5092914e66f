"""Sampling the precision-recall curve for the report's plot."""

from __future__ import annotations

import numpy as np

from services.backtest_metrics import curve_points


def test_the_curve_keeps_its_recall_steps_and_both_ends() -> None:
    #  index   0    1    2    3    4    5    6
    #  recall  0    0    .5   .5   1    1    1     steps at 0, 2, 4; the last point at 6
    recall = np.array([0, 0, 0.5, 0.5, 1, 1, 1])
    assert curve_points(recall, 10).tolist() == [0, 2, 4, 6]
    assert curve_points(recall, 3).tolist() == [0, 2, 6]  # evenly among the steps, ends kept
    assert curve_points(np.array([]), 3).tolist() == []
