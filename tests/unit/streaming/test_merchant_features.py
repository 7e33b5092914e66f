"""The merchant fold's Spark plumbing without Spark: the state store round trip, pandas rows, settings."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pydantic import ValidationError

from streaming.merchant_features import _events_from_pandas, state_from_json, state_to_json
from streaming.merchant_state import MerchantState, features, fold
from streaming.schema import Label, Swipe
from streaming.settings import StreamSettings
from tests.unit.streaming.merchant_builders import CFG, MERCHANT, T0, at, fraud, sw


def test_state_survives_the_state_store_round_trip() -> None:
    state = fold(MerchantState(), [sw(1, 0.5), sw(2, 1.5, 7.25), sw(3, 2.5), fraud(2, 1.5, 2.0)], CFG)
    back = state_from_json(state_to_json(state))
    assert back == state
    assert features(MERCHANT, back, CFG, computed_at=T0) == features(MERCHANT, state, CFG, computed_at=T0)


def test_state_from_an_older_or_newer_merchant_state_still_loads() -> None:
    stored = json.loads(state_to_json(fold(MerchantState(), [sw(1, 0.5)], CFG)))
    stored["retired_field"] = 1
    del stored["events"]
    back = state_from_json(json.dumps(stored))
    assert back.events == 0 and back.last_swipe_t == at(0.5).timestamp() and len(back.buckets) == 1


def test_pandas_rows_become_swipes_and_fraud_labels() -> None:
    us = int(at(1.0).timestamp() * 1_000_000)
    frame = pd.DataFrame(
        {
            "merchant_id": [MERCHANT, MERCHANT],
            "swipe_id": ["s1", "s1"],
            "amount": [12.5, None],
            "event_us": [us, us],
            "reported_us": [None, us + 3_600_000_000],
            "at": [at(1.0), at(2.0)],
        }
    )
    swipe, label = _events_from_pandas([frame])
    assert isinstance(swipe, Swipe) and (swipe.amount, swipe.event_time) == (12.5, at(1.0))
    assert (
        isinstance(label, Label)
        and label.is_fraud
        and (label.event_time, label.reported_at) == (at(1.0), at(2.0))
    )


def test_settings_refuse_merchant_windows_that_are_not_whole_buckets() -> None:
    assert StreamSettings().merchant_config.retention_s == 37 * 86400
    with pytest.raises(ValidationError, match="label delay"):
        StreamSettings(label_delay_s=1800)
    with pytest.raises(ValidationError, match="merchant fraud_horizons_s"):
        StreamSettings(merchant_fraud_horizons_s=[5400])
