"""Where the replay puts the theft: the half hour after the stream's newest event time, or the clock's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.generator.scenarios import LabeledSwipe
from services.replay.stolen_card import _timeline, theft_time
from tests.unit.scoring.builders import T0, TOKEN, card_swipes

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


def test_the_theft_timeline_numbers_the_fraud_in_order_among_the_legitimate_swipes() -> None:
    fraud = [LabeledSwipe(s, True, "stolen_card") for s in card_swipes(TOKEN, [0, 300])]
    during = card_swipes("ct_" + "1" * 32, [420, 120])
    got = [((s.event_time - T0).seconds, is_fraud, index) for s, is_fraud, index in _timeline(fraud, during)]
    assert got == [(0, True, 1), (120, False, 0), (300, True, 2), (420, False, 0)]
