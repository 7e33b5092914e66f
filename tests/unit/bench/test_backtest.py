"""The backtest bench's split of a file's days into train and test periods."""

from __future__ import annotations

from datetime import date

import pytest

from bench.backtest import periods


@pytest.mark.parametrize(
    ("first", "last", "train_last", "test_first"),
    [
        (date(2026, 5, 1), date(2026, 10, 29), date(2026, 8, 29), date(2026, 8, 30)),  # 182 days: 121 + 61
        (date(2026, 3, 1), date(2026, 3, 3), date(2026, 3, 2), date(2026, 3, 3)),
    ],
)
def test_two_thirds_train_and_the_rest_tests(
    first: date, last: date, train_last: date, test_first: date
) -> None:
    train, test = periods(first, last)
    assert (train.first, train.last, test.first, test.last) == (first, train_last, test_first, last)
