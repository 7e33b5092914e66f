"""Freshness bookkeeping: a swipe counts as fresh once a feature record of its card covers its event time."""

from __future__ import annotations

import math

import pytest

from bench.stream_feed import SendLog

CARD = "ct_" + "ab" * 16
OTHER = "ct_" + "cd" * 16


def test_a_record_covers_every_earlier_swipe_of_its_card() -> None:
    log = SendLog()
    log.sent(CARD, event_t=100.0, wall=1000.0)
    log.sent(CARD, event_t=101.0, wall=1001.0)
    log.sent(CARD, event_t=102.0, wall=1002.0)

    log.covered(CARD, as_of=101.0, wall=1004.5)

    assert log.latencies_s == pytest.approx([4.5, 3.5])
    assert log.unseen == 1


def test_a_record_older_than_the_swipe_or_of_another_card_covers_nothing() -> None:
    log = SendLog()
    log.sent(CARD, event_t=100.0, wall=1000.0)

    log.covered(CARD, as_of=99.999, wall=1001.0)
    log.covered(OTHER, as_of=200.0, wall=1001.0)

    assert log.latencies_s == []
    assert (log.tracked, log.unseen) == (1, 1)


@pytest.mark.parametrize(
    ("walls", "rate"),
    [
        ([], math.nan),  # nothing sent
        ([1000.0], math.nan),  # one swipe: no window
        ([1000.0, 1000.0], math.nan),  # no time between them
        ([1000.0, 1000.5, 1001.0], 2.0),  # two gaps over one second
        ([1000.0 + i / 100 for i in range(6001)], 100.0),  # 6,000 gaps over 60 s
    ],
)
def test_the_published_rate_is_the_sender_s_own_window(walls: list[float], rate: float) -> None:
    log = SendLog()
    for i, wall in enumerate(walls):
        log.sent(CARD, event_t=float(i), wall=wall)
    assert log.published_per_s == pytest.approx(rate, nan_ok=True)
