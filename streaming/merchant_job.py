"""The job's label and merchant queries: Kafka `labels` (+ `swipes`) in; Delta and `merchant-features` out.

    labels_raw         every label as received -> Delta `labels` (training reads it); invalid ones
                       -> Delta `dead_letters`, as the swipes_raw query does for swipes
    merchant_features  per-merchant fold of swipes and fraud labels (update) -> Kafka
                       `merchant-features` (compacted, keyed by merchant id) and Delta `merchant_features`

Both run on the history trigger: the labels table is history only, and merchant windows are hourly
buckets, so a record 20 s later loses nothing while the two cores stay with the card features.
The job passes its writer and idempotent Delta append (txnAppId/txnVersion), as for decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from services.topics import ensure_topics
from streaming.features import Clock, dead_letters, good_swipes, parse_swipes, utc_now
from streaming.merchant_features import good_labels, merchant_features_stream, parse_labels
from streaming.settings import StreamSettings

QUERY_LABELS = "labels_raw"
QUERY_MERCHANTS = "merchant_features"
TABLE_LABELS = "labels"
TABLE_MERCHANT_FEATURES = "merchant_features"
TABLE_DEAD_LETTERS = "dead_letters"

Writer = Callable[[DataFrame, StreamSettings, str], Any]
AppendOnce = Callable[[DataFrame, str, str, int], None]
AppId = Callable[[DataFrame, str], str]


def read_topics(spark: SparkSession, settings: StreamSettings, topics: list[str]) -> DataFrame:
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap)
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", settings.starting_offsets)
        .option("failOnDataLoss", "false")
    )
    if settings.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
    return reader.load()


def _ensure_topics(settings: StreamSettings) -> None:
    # Chargebacks come from another system: on a fresh cluster `labels` may not exist yet.
    ensure_topics(
        settings.bootstrap,
        [settings.topic_labels, settings.topic_merchant_features],
        partitions=settings.topic_partitions,
        compacted=[settings.topic_merchant_features],
    )


def start_labels(
    spark: SparkSession, settings: StreamSettings, writer: Writer, append_once: AppendOnce, app_id: AppId
) -> StreamingQuery:
    """Every label as received to Delta `labels`; the invalid ones to `dead_letters`."""
    _ensure_topics(settings)
    parsed = parse_labels(read_topics(spark, settings, [settings.topic_labels]))

    def write(batch: DataFrame, batch_id: int) -> None:
        app = app_id(batch, QUERY_LABELS)
        batch.persist()
        try:
            append_once(good_labels(batch), settings.table(TABLE_LABELS), app, batch_id)
            bad = dead_letters(batch)
            if not bad.isEmpty():
                append_once(bad, settings.table(TABLE_DEAD_LETTERS), app, batch_id)
        finally:
            batch.unpersist()

    query: StreamingQuery = writer(parsed, settings, QUERY_LABELS).foreachBatch(write).start()
    return query


def merchant_sources(spark: SparkSession, settings: StreamSettings) -> tuple[DataFrame, DataFrame]:
    """The good swipes and the good labels, each from its own Kafka source.

    Two sources, not one subscribed to both topics: Spark scans a source once per branch that
    reads it, so one source split by topic would read every swipe twice.
    """
    swipes = good_swipes(parse_swipes(read_topics(spark, settings, [settings.topic_swipes])))
    labels = good_labels(parse_labels(read_topics(spark, settings, [settings.topic_labels])))
    return swipes, labels


def start_merchant_features(
    spark: SparkSession,
    settings: StreamSettings,
    writer: Writer,
    append_once: AppendOnce,
    app_id: AppId,
    clock: Clock = utc_now,
) -> StreamingQuery:
    """The per-merchant fold: records to the compacted merchant topic and to Delta `merchant_features`."""
    _ensure_topics(settings)
    swipes, labels = merchant_sources(spark, settings)
    records = merchant_features_stream(swipes, labels, settings.merchant_config, settings.watermark_s, clock)

    def write(batch: DataFrame, batch_id: int) -> None:
        # Persisted: a second evaluation would rerun the fold and stamp another computed_at.
        batch.persist()
        try:
            if batch.isEmpty():  # a batch that only moved the watermark or evicted idle merchants
                return
            (
                batch.select(F.col("merchant_id").alias("key"), "value")
                .write.format("kafka")
                .option("kafka.bootstrap.servers", settings.bootstrap)
                .option("topic", settings.topic_merchant_features)
                .save()
            )
            app = app_id(batch, QUERY_MERCHANTS)
            append_once(batch, settings.table(TABLE_MERCHANT_FEATURES), app, batch_id)
        finally:
            batch.unpersist()

    query: StreamingQuery = (
        writer(records, settings, QUERY_MERCHANTS).outputMode("update").foreachBatch(write).start()
    )
    return query
