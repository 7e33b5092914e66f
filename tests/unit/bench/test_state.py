"""The state bench's day: each card's swipes on the one simulated day, before its last hour."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np

from bench.state import DAY, day_swipes
from streaming.schema import Swipe

TEMPLATE = {
    "swipe_id": "x",
    "card_token": "ct_" + "0" * 32,
    "amount": 12.5,
    "currency": "EUR",
    "merchant_id": "m-1",
    "mcc": "5411",
    "country": "FR",
    "channel": "pos",
    "event_time": "2026-01-01T00:00:00Z",
}


def test_every_card_swipes_on_the_day_before_its_last_hour_with_its_own_ids() -> None:
    rng = np.random.default_rng(1)
    swipes = [
        Swipe.model_validate(json.loads(v))
        for card in range(50)
        for v in day_swipes([TEMPLATE], card, 3, rng)
    ]
    assert len(swipes) == 150 and len({s.swipe_id for s in swipes}) == 150
    assert len({s.card_token for s in swipes}) == 50
    assert all(DAY <= s.event_time < DAY + timedelta(hours=23) for s in swipes)
    by_card: dict[str, list[datetime]] = {}
    for s in swipes:
        by_card.setdefault(s.card_token, []).append(s.event_time)
    assert all(times == sorted(times) for times in by_card.values())
