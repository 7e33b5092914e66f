"""The tables' plain form: a record read back is the record stored, as the Kafka JSON round trip gives it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from scoring.serving.plain import PlainRecords
from scoring.serving.reviews import close_case, open_case
from streaming.schema import (
    CardFeatures,
    MerchantFeatures,
    MerchantFraud,
    MerchantVolume,
    ReviewCase,
    Swipe,
    from_kafka,
    to_kafka,
)
from tests.unit.scoring.builders import T0, TOKEN, card_features
from tests.unit.scoring.serving.test_online import full_profile_record

SWIPE = Swipe(
    swipe_id="sw-1",
    card_token=TOKEN,
    amount=12.5,
    currency="EUR",
    merchant_id="m-1",
    mcc="5411",
    country="FR",
    channel="ecom",
    event_time=T0 + timedelta(microseconds=7),
    decision="deny",
)
OPEN = open_case(
    SWIPE, None, None, [("rule:big", "big", "review"), ("model_score", "s", 0.4)], {"a": 1.5}, T0
)
MERCHANT = MerchantFeatures(
    merchant_id="m-1",
    as_of=datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=UTC),
    events=3,
    computed_at=datetime(2026, 11, 27, 10, 31, tzinfo=timezone(timedelta(hours=1))),  # not UTC
    bucket_s=3600,
    label_delay_s=604800,
    volume=[MerchantVolume(horizon_s=3600, count=2, amount_sum=20.5)],
    fraud=[MerchantFraud(horizon_s=604800, swipes=10, fraud_known=1, fraud_rate=0.1)],
)

RECORDS: list[BaseModel] = [
    card_features(),
    card_features(as_of_s=0.5, where=None, windows={}, hours=[1] * 24),  # no position, no windows
    from_kafka(CardFeatures, full_profile_record("ct_" + "a" * 32)),
    MERCHANT,
    MERCHANT.model_copy(update={"volume": [], "fraud": []}),
    OPEN,
    close_case(OPEN, "fraud", "ana", "called the holder", T0 + timedelta(hours=2)),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_a_record_read_back_is_its_kafka_round_trip(record: BaseModel) -> None:
    plain = PlainRecords(type(record))
    back = plain.load(plain.dump(record))
    parsed = from_kafka(type(record), to_kafka(record))
    assert type(back) is type(record)
    assert back == record == parsed
    assert to_kafka(back) == to_kafka(record)
    assert back.model_dump() == parsed.model_dump()
    assert back.model_fields_set == parsed.model_fields_set


def test_every_read_builds_its_own_lists() -> None:
    plain = PlainRecords(CardFeatures)
    stored = plain.dump(card_features())
    first = plain.load(stored)
    first.profile.countries.append("ZZ")
    first.windows.clear()
    again = plain.load(stored)
    assert again.profile.countries == ["FR"] and len(again.windows) == 2


def test_datetimes_come_back_in_utc_to_the_microsecond() -> None:
    plain = PlainRecords(MerchantFeatures)
    back = plain.load(plain.dump(MERCHANT))
    assert back.as_of == datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=UTC)
    assert back.computed_at == datetime(2026, 11, 27, 9, 31, tzinfo=UTC)
    assert back.computed_at.utcoffset() == timedelta(0)


class _Mixed(BaseModel):
    when: datetime | str


class _Private(BaseModel):
    _cache: int = 0
    n: int


class _Set(BaseModel):
    tags: set[str]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (_Mixed, "_Mixed.when: a union of a record or datetime"),
        (_Private, "private attributes"),
        (_Set, "_Set.tags: no plain form"),
    ],
)
def test_a_type_without_a_plain_form_is_refused_up_front(model: type[BaseModel], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        PlainRecords(model)


def test_the_tables_record_types_all_have_a_plain_form() -> None:
    for model in (CardFeatures, MerchantFeatures, ReviewCase):
        assert PlainRecords(model).model is model
