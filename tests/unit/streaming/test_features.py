"""The pure parts of the feature definitions: the stored card state and the pandas -> Swipe step."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from streaming.card_state import CardState, FeatureConfig, features, fold
from streaming.features import _swipes_from_pandas, state_from_json, state_to_json
from streaming.schema import Swipe

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TOKEN = "ct_" + "ef" * 16
CFG = FeatureConfig(horizons_s=(600,), session_gap_s=900)


def sw(i: int, minutes: float, **kw: object) -> Swipe:
    return Swipe(
        swipe_id=f"s{i}",
        card_token=TOKEN,
        amount=10.0 + i,
        currency="EUR",
        merchant_id=f"m{i}",
        mcc="5411",
        country="FR",
        event_time=T0 + timedelta(minutes=minutes),
        **kw,  # type: ignore[arg-type]
    )


def test_state_survives_the_state_store_round_trip() -> None:
    state = fold(CardState(), [sw(1, 0, lat=48.8, lon=2.3), sw(2, 3, decision="deny")], CFG)
    back = state_from_json(state_to_json(state))
    assert back == state
    # Folding on from the restored state gives what folding on from the original gives.
    assert features(TOKEN, fold(back, [sw(3, 5)], CFG), CFG, T0) == features(
        TOKEN, fold(state, [sw(3, 5)], CFG), CFG, T0
    )


def test_state_from_an_older_or_newer_card_state_still_loads() -> None:
    stored = json.loads(state_to_json(fold(CardState(), [sw(1, 0)], CFG)))
    stored["field_from_a_newer_release"] = 1
    del stored["mccs"]
    back = state_from_json(json.dumps(stored))
    assert back.n == 1 and back.mccs == []


def test_pandas_rows_become_swipes_in_event_time_order() -> None:
    us = [int((T0 + timedelta(minutes=m)).timestamp() * 1_000_000) for m in (5, 0, 0)]
    pdf = pd.DataFrame(
        {
            "swipe_id": ["late", "b", "a"],
            "amount": [1.0, 2.0, 3.0],
            "currency": ["EUR"] * 3,
            "merchant_id": ["m"] * 3,
            "mcc": ["5411"] * 3,
            "country": ["FR"] * 3,
            "lat": [np.nan, 48.8, np.nan],
            "lon": [np.nan, 2.3, np.nan],
            "channel": ["pos"] * 3,
            "event_time": [pd.Timestamp(0)] * 3,  # ignored: event_us is the exact, zone-free time
            "card_token": [TOKEN] * 3,
            "decision": [None, "deny", None],
            "event_us": us,
        }
    )
    swipes = _swipes_from_pandas([pdf])
    assert [s.swipe_id for s in swipes] == ["a", "b", "late"]  # ties broken by swipe id
    assert swipes[0].lat is None and swipes[1].lat == 48.8
    assert swipes[2].event_time == T0 + timedelta(minutes=5)
    assert swipes[1].decision == "deny"
