"""The feature job end to end: Kafka swipes in; Delta tables and the tiles topic out; restarts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foundation.tables import (
    TABLE_DEAD_LETTERS,
    TABLE_LABELS,
    TABLE_MERCHANT_FEATURES,
    TABLE_SESSIONS,
    TABLE_SWIPES,
)
from streaming import job
from streaming.history import QUERY_HISTORY
from streaming.job_metrics import ProgressExporter, StreamMetrics
from streaming.schema import CardFeatures, Label, MerchantFeatures, from_kafka, to_kafka
from streaming.settings import StreamSettings
from streaming.tile_spark import card_tiles_batch
from tests.eventually import assert_eventually
from tests.integration._stream_support import (
    T0,
    TopicReader,
    card,
    merged_features,
    newest,
    newest_tiles,
    produce,
    swipe,
    tile_of_row,
)

pytestmark = pytest.mark.integration

A, B, C, D = card(0xA), card(0xB), card(0xC), card(0xD)


@pytest.fixture
def settings(kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path) -> StreamSettings:
    return StreamSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_tiles=topic_factory("card-tiles", compacted=True),
        topic_labels=topic_factory("labels"),
        topic_decisions=topic_factory("decisions"),
        topic_merchant_features=topic_factory("merchant-features", compacted=True),
        delta_root=str(tmp_path / "delta"),
        checkpoint_root=str(tmp_path / "checkpoints"),
        horizons_s=[600, 3600],
        session_gap_s=300,
        watermark_s=60,
        trigger_s=0.5,
        history_trigger_s=2.0,
        metrics_port=0,
        # Minutes, not hours: 1-minute buckets; fraud over the hour ending 30 minutes back.
        merchant_bucket_s=60,
        merchant_volume_horizons_s=[600, 3600],
        merchant_fraud_horizons_s=[3600],
        label_delay_s=1800,
    )


@pytest.fixture
def metrics(spark: SparkSession) -> Iterator[StreamMetrics]:
    metrics = StreamMetrics(CollectorRegistry())
    listener = ProgressExporter(metrics)
    spark.streams.addListener(listener)
    try:
        yield metrics
    finally:
        spark.streams.removeListener(listener)


def table(spark: SparkSession, settings: StreamSettings, name: str) -> DataFrame:
    return spark.read.format("delta").load(settings.table(name))


def latest_features(reader: TopicReader, settings: StreamSettings) -> dict[str, CardFeatures]:
    return merged_features(reader.poll_all(), settings.feature_config)


def assert_each_swipe_once(
    spark: SparkSession, settings: StreamSettings, expected_ids: set[str], queries: Sequence[Any] = ()
) -> None:
    for q in queries:
        assert q.exception() is None, f"{q.name} failed: {q.exception()}"
    rows = table(spark, settings, TABLE_SWIPES).select("swipe_id", "partition", "offset").collect()
    assert sorted(r.swipe_id for r in rows) == sorted(expected_ids), "every swipe once, none lost"
    assert len({(r.partition, r.offset) for r in rows}) == len(rows), "a Kafka record was written twice"


def chargeback(swiped: Any, reported_minutes: float) -> Label:
    return Label.of(
        swiped, is_fraud=True, scenario="chargeback", reported_at=T0 + timedelta(minutes=reported_minutes)
    )


def produce_labels(settings: StreamSettings, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap})
    for value in values:
        producer.produce(settings.topic_labels, value=value)
    assert producer.flush(10) == 0


def latest_merchants(reader: TopicReader) -> dict[str, MerchantFeatures]:
    latest: dict[str, MerchantFeatures] = {}
    for key, value in reader.poll_all():
        record = from_kafka(MerchantFeatures, value)
        assert key == record.merchant_id.encode(), "merchant records are keyed by merchant id"
        newest = latest.get(record.merchant_id)
        if newest is None or (record.as_of, record.events) > (newest.as_of, newest.events):
            latest[record.merchant_id] = record
    return latest


def test_job_publishes_features_and_fills_delta(
    spark: SparkSession, settings: StreamSettings, metrics: StreamMetrics
) -> None:
    registry = metrics.registry
    s1 = swipe("s1", A, 0)  # every swipe here is at merchant m-1
    produce(
        settings.bootstrap,
        settings.topic_swipes,
        [s1, swipe("s2", A, 2), swipe("s3", A, 5, 40.0), swipe("s4", B, 1), b"not json"],
    )
    no_merchant = json.dumps(
        {k: v for k, v in json.loads(to_kafka(chargeback(s1, 10))).items() if k != "merchant_id"}
    )
    produce_labels(settings, [to_kafka(chargeback(s1, 10)), no_merchant.encode()])
    reader = TopicReader(settings.bootstrap, settings.topic_tiles)
    merchant_reader = TopicReader(settings.bootstrap, settings.topic_merchant_features)
    queries = job.start(spark, settings, metrics=metrics)
    try:

        def features_published() -> dict[str, CardFeatures]:
            latest = latest_features(reader, settings)
            assert set(latest) == {A, B}
            window = latest[A].window(600)
            assert window is not None and window.count == 3 and window.amount_sum == 60.0
            assert latest[A].last_swipe_id == "s3"
            return latest

        assert_eventually(features_published, timeout=90)
        assert_eventually(lambda: assert_each_swipe_once(spark, settings, {"s1", "s2", "s3", "s4"}, queries))

        def dead_letter_kept() -> None:
            # Written after `swipes` in the same micro-batch, so it may land a moment later.
            assert (Path(settings.table(TABLE_DEAD_LETTERS)) / "_delta_log").is_dir()
            dead = table(spark, settings, TABLE_DEAD_LETTERS).collect()
            assert sorted((d.topic, d.value, d.error) for d in dead) == sorted(
                [
                    (settings.topic_swipes, b"not json", "malformed JSON: the value is not a JSON object"),
                    (settings.topic_labels, no_merchant.encode(), "merchant_id: missing required field"),
                ]
            )

        assert_eventually(dead_letter_kept)

        # C at 60 min moves the watermark past both sessions (A ends 5 + 5 min, B ends 1 + 5).
        produce(settings.bootstrap, settings.topic_swipes, [swipe("s5", C, 60)])

        def sessions_closed() -> None:
            got = {
                (r.card_token, r.swipes, r.amount) for r in table(spark, settings, TABLE_SESSIONS).collect()
            }
            assert got == {(A, 3, 60.0), (B, 1, 10.0)}

        assert_eventually(sessions_closed, timeout=90)

        # As of s5 (60 min): volume over 10 min is s5; over the hour s2, s4, s3, s5 (s1 is in minute
        # 0, outside (0, 60]). Fraud: the hour ending 30 min back holds s1..s4, s1 charged back.
        def merchant_features_published() -> None:
            m1 = latest_merchants(merchant_reader).get("m-1")
            assert m1 is not None and m1.as_of == T0 + timedelta(minutes=60)
            assert [(v.horizon_s, v.count, v.amount_sum) for v in m1.volume] == [
                (600, 1, 10.0),
                (3600, 4, 70.0),
            ]
            assert [(f.swipes, f.fraud_known, f.fraud_rate) for f in m1.fraud] == [(4, 1, 0.25)]
            # The same record in Delta, written by the same micro-batch.
            delta = table(spark, settings, TABLE_MERCHANT_FEATURES).where(F.col("merchant_id") == "m-1")
            assert m1 in [from_kafka(MerchantFeatures, r.value) for r in delta.collect()]
            labels = table(spark, settings, TABLE_LABELS).collect()
            assert [(r.swipe_id, r.merchant_id, r.is_fraud) for r in labels] == [("s1", "m-1", True)]

        assert_eventually(merchant_features_published, timeout=90)

        # Behind the watermark now for its minute tile: the tiles drop it there (and count it), its hour
        # and day tiles, still open, take it; the raw table keeps it.
        produce(settings.bootstrap, settings.topic_swipes, [swipe("late", A, 3)])

        def late_swipe_kept_and_counted() -> None:
            assert_each_swipe_once(spark, settings, {"s1", "s2", "s3", "s4", "s5", "late"})
            late = registry.get_sample_value("fraudstream_stream_late_rows_total", {"query": job.QUERY_TILES})
            assert late is not None and late >= 1

        assert_eventually(late_swipe_kept_and_counted, timeout=90)

        def dead_letters_counted() -> None:
            # One invalid swipe and one invalid label, both read by the history query.
            counted = registry.get_sample_value(
                "fraudstream_stream_dead_letters_total", {"query": QUERY_HISTORY}
            )
            assert counted == 2

        assert_eventually(dead_letters_counted)
        batches = registry.get_sample_value("fraudstream_stream_batches_total", {"query": QUERY_HISTORY})
        assert batches is not None and batches >= 2
    finally:
        job.stop(queries)
        reader.close()
        merchant_reader.close()


def forget_last_commit(checkpoint: Path) -> None:
    """Simulate a crash after the sink wrote a batch but before Spark recorded it as done."""
    commits = sorted(
        (p for p in (checkpoint / "commits").iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
    )
    last = commits[-1]
    last.unlink()
    (last.parent / f".{last.name}.crc").unlink(missing_ok=True)


def test_restart_resumes_without_duplicates_or_loss(spark: SparkSession, settings: StreamSettings) -> None:
    produce(
        settings.bootstrap, settings.topic_swipes, [swipe("s1", A, 0), swipe("s2", A, 2), swipe("s3", B, 1)]
    )
    reader = TopicReader(settings.bootstrap, settings.topic_tiles)
    queries = job.start(spark, settings)
    try:
        assert_eventually(lambda: assert_each_swipe_once(spark, settings, {"s1", "s2", "s3"}), timeout=90)
        assert_eventually(lambda: assert_has_features(reader, settings, {A: "s2", B: "s3"}), timeout=90)
    finally:
        job.stop(queries)
    checkpoints = Path(settings.checkpoint_path)
    forget_last_commit(checkpoints / QUERY_HISTORY)
    forget_last_commit(Path(job.tiles_checkpoint(settings)))

    produce(settings.bootstrap, settings.topic_swipes, [swipe("s4", A, 4, 25.0), swipe("s5", D, 6)])
    queries = job.start(spark, settings)
    try:
        assert_eventually(
            lambda: assert_has_features(reader, settings, {A: "s4", B: "s3", D: "s5"}), timeout=90
        )
        # The raw query commits on the slower history trigger: its rows may land after the features.
        assert_eventually(
            lambda: assert_each_swipe_once(spark, settings, {"s1", "s2", "s3", "s4", "s5"}), timeout=90
        )
    finally:
        job.stop(queries)

    # The newest value of every tile on the topic is what a batch recomputation from Delta gives: the
    # replayed batch re-emitted its tiles, it did not count their swipes twice.
    try:
        streamed = newest_tiles(reader.poll_all())
    finally:
        reader.close()
    recomputed = newest(map(tile_of_row, card_tiles_batch(table(spark, settings, TABLE_SWIPES)).collect()))
    assert sorted(streamed) == sorted(recomputed)
    assert {k: (t.count, t.amount_sum, t.last_swipe_id) for k, t in streamed.items()} == {
        k: (t.count, t.amount_sum, t.last_swipe_id) for k, t in recomputed.items()
    }


def assert_has_features(reader: TopicReader, settings: StreamSettings, last_swipe: dict[str, str]) -> None:
    merged = latest_features(reader, settings)
    assert {token: f.last_swipe_id for token, f in merged.items()} == last_swipe
