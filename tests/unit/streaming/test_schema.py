"""The one swipe / feature contract: validation, Kafka round trip and the derived Spark schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from streaming.schema import CardFeatures, Swipe, from_kafka, spark_schema, to_kafka

TOKEN = "ct_" + "ab" * 16


def swipe(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "swipe_id": "sw-1",
        "card_token": TOKEN,
        "amount": 12.5,
        "currency": "EUR",
        "merchant_id": "m-1",
        "mcc": "5411",
        "country": "FR",
        "event_time": "2026-11-27T09:00:00+01:00",
    }
    base.update(overrides)
    return base


def test_event_time_is_normalised_to_utc_and_round_trips() -> None:
    s = Swipe.model_validate(swipe())
    assert s.event_time == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert b'"event_time":"2026-11-27T08:00:00.000000Z"' in to_kafka(s)
    assert from_kafka(Swipe, to_kafka(s)) == s


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"amount": -1}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"currency": "euro"}, "currency"),
        ({"mcc": "54"}, "mcc"),
        ({"country": "France"}, "country"),
        ({"card_token": "4111111111111111"}, "card_token"),
        ({"event_time": "2026-11-27T09:00:00"}, "event_time"),  # naive: refused
        ({"event_time": "0001-01-01T12:15:01+13:22"}, "event_time"),  # before year 1 in UTC
        ({"channel": "fax"}, "channel"),
        ({"lat": 91}, "lat"),
    ],
)
def test_invalid_swipe_names_the_field(override: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Swipe.model_validate(swipe(**override))
    assert field in {str(e["loc"][0]) for e in err.value.errors()}


def test_missing_required_field_is_named() -> None:
    body = swipe()
    del body["merchant_id"]
    with pytest.raises(ValidationError) as err:
        Swipe.model_validate(body)
    assert [e["loc"] for e in err.value.errors()] == [("merchant_id",)]


def test_unknown_fields_are_refused_so_a_pan_cannot_ride_along() -> None:
    with pytest.raises(ValidationError):
        Swipe.model_validate(swipe(pan="4111111111111111"))


def test_spark_schema_is_derived_from_the_model() -> None:
    schema = spark_schema(Swipe)
    assert schema.fieldNames() == list(Swipe.model_fields)
    types = {f.name: (f.dataType.simpleString(), f.nullable) for f in schema.fields}
    assert types["amount"] == ("double", False)
    assert types["event_time"] == ("timestamp", False)
    assert types["lat"] == ("double", True)
    assert types["decision"] == ("string", True)
    features = spark_schema(CardFeatures)
    assert features["windows"].dataType.simpleString().startswith("array<struct<horizon_s:bigint")


def test_aware_datetime_from_other_zone() -> None:
    t = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert Swipe.model_validate(swipe(event_time=t)).event_time.hour == 17


def test_label_names_the_merchant_and_merchant_features_round_trip() -> None:
    from streaming.schema import Label, MerchantFeatures, MerchantFraud, MerchantVolume

    label = {
        "swipe_id": "sw-1",
        "card_token": TOKEN,
        "is_fraud": True,
        "scenario": "chargeback",
        "event_time": "2026-11-27T09:00:00Z",
        "reported_at": "2026-12-03T09:00:00Z",
    }
    with pytest.raises(ValidationError) as err:
        Label.model_validate(label)
    assert [e["loc"] for e in err.value.errors()] == [("merchant_id",)]
    assert Label.model_validate({**label, "merchant_id": "m-1"}).merchant_id == "m-1"

    record = MerchantFeatures(
        merchant_id="m-1",
        as_of=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        events=3,
        computed_at=datetime(2026, 11, 27, 9, 31, tzinfo=UTC),
        bucket_s=3600,
        label_delay_s=604800,
        volume=[MerchantVolume(horizon_s=3600, count=2, amount_sum=20.5)],
        fraud=[MerchantFraud(horizon_s=604800, swipes=10, fraud_known=1, fraud_rate=0.1)],
    )
    assert from_kafka(MerchantFeatures, to_kafka(record)) == record
    window = record.fraud_window(604800)
    assert window is not None and window.fraud_rate == 0.1 and record.volume_window(86400) is None
    schema = spark_schema(MerchantFeatures)
    assert schema["fraud"].dataType.simpleString() == (
        "array<struct<horizon_s:bigint,swipes:bigint,fraud_known:bigint,fraud_rate:double>>"
    )
