"""Where the replay puts the theft: the half hour after the stream's newest event time, or the clock's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.replay import _timeline, theft_time
from services.scenarios import LabeledSwipe
from streaming.schema import Swipe

WALL = datetime(2026, 12, 2, 1, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stream_now", "expected"),
    [
        (None, datetime(2026, 12, 2, 2, 0, tzinfo=UTC)),  # an empty topic: the wall clock
        # a generator ran event time ahead of the wall clock: the story joins it, not the clock
        (datetime(2026, 12, 2, 19, 4, 59, 999, tzinfo=UTC), datetime(2026, 12, 2, 19, 30, tzinfo=UTC)),
        # behind the wall clock (a replay of last week), on a boundary: the next one, after it
        (datetime(2026, 11, 25, 8, 0, tzinfo=UTC), datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),
    ],
)
def test_the_theft_follows_the_stream_not_the_clock(stream_now: datetime | None, expected: datetime) -> None:
    got = theft_time(stream_now, WALL)
    assert got == expected
    assert got > (stream_now or WALL) and got.minute % 30 == 0 and got.second == 0


def _swipe(i: int, minutes: int, card: str = "ct_" + "0" * 32) -> Swipe:
    return Swipe(
        swipe_id=f"s{i}",
        amount=10.0,
        currency="EUR",
        merchant_id="m1",
        mcc="5411",
        country="FR",
        event_time=WALL + timedelta(minutes=minutes),
        card_token=card,
    )


def test_the_theft_timeline_numbers_the_fraud_in_order_among_the_legitimate_swipes() -> None:
    fraud = [LabeledSwipe(_swipe(1, 0), True, "stolen_card"), LabeledSwipe(_swipe(2, 5), True, "stolen_card")]
    during = [_swipe(3, 7, "ct_" + "1" * 32), _swipe(4, 2, "ct_" + "1" * 32)]
    got = [(s.swipe_id, is_fraud, index) for s, is_fraud, index in _timeline(fraud, during)]
    assert got == [("s1", True, 1), ("s4", False, 0), ("s2", True, 2), ("s3", False, 0)]
