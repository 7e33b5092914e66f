"""The streaming definitions through a memory sink, reading a real Kafka topic micro-batch by micro-batch."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from streaming.card_state import FeatureConfig
from streaming.features import (
    card_features_batch,
    card_features_stream,
    dead_letters,
    good_swipes,
    parse_swipes,
)
from streaming.job import read_swipes
from streaming.schema import CardFeatures, Swipe, from_kafka, spark_schema
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually
from tests.integration._stream_support import T0, card, produce, swipe

pytestmark = pytest.mark.integration

CFG = FeatureConfig(horizons_s=(600, 3600), session_gap_s=900)
A, B, C = card(0xA), card(0xB), card(0xC)


def settings_for(bootstrap: str, topic: str, **kw: Any) -> StreamSettings:
    return StreamSettings(kafka_bootstrap=bootstrap, topic_swipes=topic, **kw)


def without_clock(value: str) -> dict[str, Any]:
    return from_kafka(CardFeatures, value).model_dump(exclude={"computed_at"})


def test_stream_folds_each_card_across_micro_batches(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    topic = topic_factory("swipes", partitions=1)
    first = [
        swipe("s1", A, 0, 10.0),
        swipe("s5", B, 3, 99.0),
        swipe("s2", A, 4, 20.0),
        swipe("s3", A, 9, 30.0),
        swipe("s4", A, 25, 5.0),
    ]
    produce(kafka_bootstrap, topic, first)
    # Two offsets per trigger: [s1 s5] [s2 s3] [s4], so card A's state must carry over batches.
    settings = settings_for(kafka_bootstrap, topic, max_offsets_per_trigger=2)
    swipes = good_swipes(parse_swipes(read_swipes(spark, settings)))
    name = f"features_{uuid.uuid4().hex[:8]}"
    query = (
        card_features_stream(swipes, CFG, watermark_s=60, idle_ttl_s=600)
        .writeStream.queryName(name)
        .format("memory")
        .outputMode("update")
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .start()
    )
    try:
        query.processAllAvailable()
        streamed = [r.value for r in spark.table(name).collect()]
        as_of = sorted(
            (from_kafka(CardFeatures, v).card_token, from_kafka(CardFeatures, v).as_of) for v in streamed
        )
        assert as_of == [(A, T0 + timedelta(minutes=m)) for m in (0, 9, 25)] + [
            (B, T0 + timedelta(minutes=3))
        ]

        # Every streamed record is the batch fold's record after that swipe (computed_at aside).
        static = spark.createDataFrame([tuple(s.model_dump().values()) for s in first], spark_schema(Swipe))
        batch = [without_clock(r.value) for r in card_features_batch(static, CFG, every_swipe=True).collect()]
        assert all(without_clock(v) in batch for v in streamed)

        # C at 120 min moves the watermark to 119 min: A (last 25) and B (last 3) are idle for more
        # than 10 min of event time and get evicted; A's swipe at 30 min is now late and dropped.
        produce(kafka_bootstrap, topic, [swipe("s6", C, 120), swipe("s7", A, 30)])
        query.processAllAvailable()
        produce(kafka_bootstrap, topic, [swipe("s8", A, 30.5)])
        query.processAllAvailable()

        def evicted_and_late_dropped() -> None:
            progress = [p for p in query.recentProgress if p["stateOperators"]]
            assert progress[-1]["stateOperators"][0]["numRowsTotal"] == 1, "only card C should remain"
            dropped = sum(p["stateOperators"][0]["numRowsDroppedByWatermark"] for p in progress)
            assert dropped >= 1

        assert_eventually(evicted_and_late_dropped, timeout=30)
        late = {from_kafka(CardFeatures, r.value).last_swipe_id for r in spark.table(name).collect()}
        assert "s6" in late and "s8" not in late
    finally:
        query.stop()


def test_malformed_records_become_dead_letters_and_the_stream_goes_on(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    topic = topic_factory("swipes")
    good = swipe("g1", A, 0).model_dump(mode="json")
    wrong_type = {**good, "swipe_id": "bad-type", "amount": "lots"}
    missing = {k: v for k, v in good.items() if k != "card_token"}
    produce(
        kafka_bootstrap,
        topic,
        [
            swipe("g1", A, 0),
            b'{"swipe_id": "broken",',
            json.dumps(wrong_type).encode(),
            json.dumps(missing).encode(),
            swipe("g2", B, 1),
        ],
    )
    parsed = parse_swipes(read_swipes(spark, settings_for(kafka_bootstrap, topic)))
    dead_name, feat_name = f"dead_{uuid.uuid4().hex[:8]}", f"feat_{uuid.uuid4().hex[:8]}"
    dead_q = (
        dead_letters(parsed)
        .writeStream.queryName(dead_name)
        .format("memory")
        .option("checkpointLocation", str(tmp_path / "dead"))
        .start()
    )
    feat_q = (
        card_features_stream(good_swipes(parsed), CFG, watermark_s=60, idle_ttl_s=600)
        .writeStream.queryName(feat_name)
        .format("memory")
        .outputMode("update")
        .option("checkpointLocation", str(tmp_path / "feat"))
        .start()
    )
    try:
        dead_q.processAllAvailable()
        feat_q.processAllAvailable()
        reasons = sorted(r.error for r in spark.table(dead_name).collect())
        assert reasons == [
            "amount: wrong type, expected double",
            "card_token: missing required field",
            "malformed JSON: the value is not a JSON object",
        ]
        assert sorted(r.card_token for r in spark.table(feat_name).collect()) == [A, B]
        assert dead_q.isActive and feat_q.isActive
    finally:
        dead_q.stop()
        feat_q.stop()
