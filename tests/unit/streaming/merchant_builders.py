"""Builders of the merchant-feature tests: small windows, swipes and fraud labels by the hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streaming.merchant_state import MerchantConfig
from streaming.schema import Label, Swipe

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # on a bucket boundary
H = 3600
TOKEN = "ct_" + "ab" * 16
MERCHANT = "m-1"
# Small horizons so a table fits on a line: volume 1 h and 3 h, fraud over 2 h, label delay 2 h.
CFG = MerchantConfig(volume_horizons_s=(H, 3 * H), fraud_horizons_s=(2 * H,), label_delay_s=2 * H, bucket_s=H)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def sw(i: int, hours: float, amount: float = 10.0) -> Swipe:
    return Swipe(
        swipe_id=f"s{i}",
        card_token=TOKEN,
        amount=amount,
        currency="EUR",
        merchant_id=MERCHANT,
        mcc="5411",
        country="FR",
        event_time=at(hours),
    )


def fraud(i: int, swiped: float, reported: float, is_fraud: bool = True) -> Label:
    return Label(
        swipe_id=f"s{i}",
        card_token=TOKEN,
        merchant_id=MERCHANT,
        is_fraud=is_fraud,
        scenario="test",
        event_time=at(swiped),
        reported_at=at(reported),
    )
