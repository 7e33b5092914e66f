"""The feature definitions on small batch DataFrames: parsing, card tiles, closed sessions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.testing import assertDataFrameEqual

from streaming.card_state import CardState, FeatureConfig, features
from streaming.features import closed_sessions, dead_letters, good_swipes, parse_swipes
from streaming.schema import to_kafka
from streaming.tile_spark import card_tiles_batch
from streaming.tiles import Tile
from tests.integration._stream_support import T0, card, swipe, tile_of_row

pytestmark = pytest.mark.integration

KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
CFG = FeatureConfig(horizons_s=(600, 3600), session_gap_s=900)
A, B = card(0xA), card(0xB)


def kafka_rows(spark: SparkSession, values: list[bytes | None]) -> DataFrame:
    return spark.createDataFrame(
        [(b"k", v, "swipes", 0, i, T0.replace(tzinfo=None)) for i, v in enumerate(values)], KAFKA_SCHEMA
    )


def good_json(**override: Any) -> bytes:
    body = swipe("sw-1", A, 0).model_dump(mode="json")
    body.update(override)
    return json.dumps(body).encode()


def without(field: str) -> bytes:
    body = swipe("sw-1", A, 0).model_dump(mode="json")
    del body[field]
    return json.dumps(body).encode()


CASES: list[tuple[bytes | None, str | None]] = [
    (to_kafka(swipe("sw-1", A, 0)), None),
    (good_json(amount="12.5"), None),  # a numeric string is a number, as in pydantic's lax mode
    (b'{"swipe_id": "sw-1", "amount": ', "malformed JSON"),
    (b"[1, 2]", "malformed JSON"),
    (None, "malformed JSON: empty Kafka value"),
    (good_json(amount="abc"), "amount: wrong type, expected double"),
    (good_json(amount=-3), "amount: must be > 0"),
    (good_json(amount=2_000_000), "amount: must be <= 1000000"),
    (without("mcc"), "mcc: missing required field"),
    (good_json(card_token="4111111111111111"), "card_token: does not match ^ct_[0-9a-f]{32}$"),
    (good_json(event_time="2026-11-27T09:00:00"), "event_time: timestamp needs a UTC offset"),
    (good_json(event_time="yesterday"), "event_time: wrong type, expected timestamp"),
    (good_json(channel="web", lat=91.0), "lat: must be <= 90; channel: must be one of pos, ecom, atm"),
]


def test_parse_names_the_field_of_every_invalid_swipe(spark: SparkSession) -> None:
    parsed = parse_swipes(kafka_rows(spark, [v for v, _ in CASES]))
    errors = {r.offset: r.error for r in parsed.select("offset", "error").collect()}
    for offset, (value, expected) in enumerate(CASES):
        if expected is None:
            assert errors[offset] is None, f"{value!r} should be valid, got {errors[offset]!r}"
        else:
            assert errors[offset] is not None and errors[offset].startswith(expected), (value, errors[offset])

    good = good_swipes(parsed).collect()
    assert [(r.offset, r.amount, r.channel) for r in good] == [(0, 10.0, "pos"), (1, 12.5, "pos")]
    dead = dead_letters(parsed).collect()
    assert len(dead) == len(CASES) - 2
    # The raw bytes are kept, so a fixed producer bug can be replayed from the dead letters.
    assert {r.offset: r.value for r in dead}[5] == CASES[5][0]


# Card A, minutes after 09:00; horizons 10 and 60 min, session gap 15 min:
#
#   0    4    9  10          19    25
#   s1   s2   s3  |           |    s4
#   |<-- 10m of s3: (-1, 9] -->|         s1 s2 s3 -> 3 swipes, 60.0
#                   10m of s4: (15, 25]  s4 alone; 9 -> 25 is 16 min > 15, a new session
#
# Card B has one swipe, sent twice: counted once.
def swipes_frame(spark: SparkSession) -> DataFrame:
    rows = [
        swipe("s1", A, 0, 10.0),
        swipe("s2", A, 4, 20.0),
        swipe("s3", A, 9, 30.0, merchant="m-2"),
        swipe("s4", A, 25, 5.0),
        swipe("s5", B, 3, 99.0, country="DE"),
        swipe("s5", B, 3, 99.0, country="DE"),
    ]
    raw = kafka_rows(spark, [to_kafka(s) for s in rows])
    return good_swipes(parse_swipes(raw))


def test_features_merged_from_spark_tiles_are_the_pure_folds(spark: SparkSession) -> None:
    state: dict[str, CardState] = {}
    for record in map(tile_of_row, card_tiles_batch(swipes_frame(spark)).collect()):
        state.setdefault(record.card_token, CardState()).put(Tile.of(record))
    merged = {token: features(token, s, CFG, T0) for token, s in state.items()}
    a = merged[A]
    assert (a.as_of, a.windows[0].count, a.windows[1].count, a.session.swipes) == (
        T0 + timedelta(minutes=25),
        1,
        4,
        1,
    )
    assert a.profile.swipes == 4 and a.windows[1].merchants == 2
    # the tiles count the swipe published twice twice: swipes are de-duplicated at the edge
    assert merged[B].last_country == "DE" and merged[B].profile.swipes == 2


def test_closed_sessions_split_on_the_gap(spark: SparkSession) -> None:
    sessions = closed_sessions(swipes_frame(spark), gap_s=900, watermark_s=60)
    naive = T0.replace(tzinfo=None)

    def at(minutes: int) -> Any:
        return naive + timedelta(minutes=minutes)

    # session_end is the last swipe plus the gap, Spark's session window end.
    cols = ["card_token", "session_start", "session_end", "swipes", "amount", "merchants", "countries"]
    expected = [
        Row(**dict(zip(cols, values, strict=True)))
        for values in [
            (A, at(0), at(24), 3, 60.0, 2, 1),
            (A, at(25), at(40), 1, 5.0, 1, 1),
            (B, at(3), at(18), 1, 99.0, 1, 1),
        ]
    ]
    assertDataFrameEqual(sessions, expected)
