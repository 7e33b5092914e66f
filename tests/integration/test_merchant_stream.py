"""The per-merchant fold through a memory sink: swipes and labels from real Kafka topics, batch parity."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from streaming.merchant_features import merchant_features_batch, merchant_features_stream
from streaming.merchant_job import merchant_sources
from streaming.merchant_state import MerchantConfig
from streaming.schema import Label, MerchantFeatures, Swipe, from_kafka, spark_schema, to_kafka
from streaming.settings import StreamSettings
from tests.integration._stream_support import T0, card, produce, swipe

pytestmark = pytest.mark.integration

# Minutes as the unit: 1-minute buckets, volume over 10 min, fraud over 10 min a 10-minute delay back.
CFG = MerchantConfig(volume_horizons_s=(600,), fraud_horizons_s=(600,), label_delay_s=600, bucket_s=60)
A, B = card(0xA), card(0xB)


def label(s: Swipe, reported_minutes: float) -> Label:
    return Label.of(s, is_fraud=True, scenario="test", reported_at=T0 + timedelta(minutes=reported_minutes))


def publish_labels(bootstrap: str, topic: str, labels: list[Label]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for lab in labels:
        producer.produce(topic, key=lab.merchant_id.encode(), value=to_kafka(lab))
    assert producer.flush(10) == 0


def without_clock(value: str) -> dict[str, Any]:
    return from_kafka(MerchantFeatures, value).model_dump(exclude={"computed_at"})


def test_stream_folds_swipes_and_labels_per_merchant_like_the_batch(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    # Timeline (minutes), merchant m-1; m-2 has one swipe:
    #
    #   0   2   4    8        13       18   21
    #   s1  s2  s3*  s4       s2 label s5   s6          (* s3's label is reported at 21, after s6)
    #   fraud window as of 21: (21 - 10 - 10, 21 - 10] = buckets 2..11 -> s2, s3, s4 with s2 and
    #   s3 known fraud: 2 of 3. As of 18 only s2's label was in.
    swipes = [
        swipe("s1", A, 0, merchant="m-1"),
        swipe("s2", A, 2, merchant="m-1"),
        swipe("s3", B, 4, 30.0, merchant="m-1"),
        swipe("s4", B, 8, merchant="m-1"),
        swipe("s5", A, 18, merchant="m-1"),
        swipe("s6", B, 21, merchant="m-1"),
        swipe("s7", A, 5, merchant="m-2"),
    ]
    by_id = {s.swipe_id: s for s in swipes}
    labels = [label(by_id["s2"], 13), label(by_id["s3"], 21)]
    settings = StreamSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes", partitions=1),
        topic_labels=topic_factory("labels", partitions=1),
        max_offsets_per_trigger=2,  # per source: several micro-batches, the state must carry over
    )
    produce(kafka_bootstrap, settings.topic_swipes, swipes)
    publish_labels(kafka_bootstrap, settings.topic_labels, labels)
    good_swipes, good_labels = merchant_sources(spark, settings)
    name = f"merchants_{uuid.uuid4().hex[:8]}"
    query = (
        merchant_features_stream(good_swipes, good_labels, CFG, watermark_s=3600)
        .writeStream.queryName(name)
        .format("memory")
        .outputMode("update")
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .start()
    )
    try:
        query.processAllAvailable()
        streamed: dict[str, dict[str, Any]] = {}
        for row in spark.table(name).collect():
            record = without_clock(row.value)
            newest = streamed.get(row.merchant_id)
            if newest is None or (record["as_of"], record["events"]) > (newest["as_of"], newest["events"]):
                streamed[row.merchant_id] = record
    finally:
        query.stop()

    m1 = MerchantFeatures.model_validate({**streamed["m-1"], "computed_at": T0})
    assert m1.as_of == T0 + timedelta(minutes=21)
    volume, fraud = m1.volume_window(600), m1.fraud_window(600)
    assert volume is not None and (volume.count, volume.amount_sum) == (2, 20.0)  # s5, s6
    assert fraud is not None and (fraud.swipes, fraud.fraud_known) == (3, 2)
    assert streamed["m-2"]["volume"][0]["count"] == 1

    static_swipes = spark.createDataFrame([tuple(vars(s).values()) for s in swipes], spark_schema(Swipe))
    static_labels = spark.createDataFrame([tuple(vars(lab).values()) for lab in labels], spark_schema(Label))
    batch = {
        r.merchant_id: without_clock(r.value)
        for r in merchant_features_batch(static_swipes, static_labels, CFG).collect()
    }
    assert batch == streamed

    # Point in time: as of s5 (18 min), s2's label (reported at 13) counts, s3's (at 21) does not.
    every = [
        from_kafka(MerchantFeatures, r.value)
        for r in merchant_features_batch(static_swipes, static_labels, CFG, every_event=True).collect()
    ]
    at_18 = next(f for f in every if f.merchant_id == "m-1" and f.as_of == T0 + timedelta(minutes=18))
    assert at_18.fraud[0].fraud_known == 1
