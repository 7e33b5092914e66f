"""The job's merchant query: Kafka `swipes` and `labels` in; Delta and `merchant-features` out.

    merchant_features  per-merchant fold of swipes and fraud labels (update) -> Kafka
                       `merchant-features` (compacted, keyed by merchant id) and Delta `merchant_features`

It runs on the history trigger: merchant windows are hourly buckets, so a record 30 s later loses
nothing while the two cores stay with the card tiles. It writes through `streaming.sinks`, as the
job's other queries do. The labels themselves reach Delta `labels` through `streaming.history`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from foundation.tables import TABLE_MERCHANT_FEATURES
from foundation.topics import ensure_topics
from streaming.features import Clock, good_swipes, parse_swipes, utc_now
from streaming.merchant_features import good_labels, merchant_features_stream, parse_labels
from streaming.settings import StreamSettings
from streaming.sinks import read_topic, start_published

QUERY_MERCHANTS = "merchant_features"


def _ensure_topics(settings: StreamSettings) -> None:
    # Chargebacks come from another system: on a fresh cluster `labels` may not exist yet.
    ensure_topics(
        settings.bootstrap,
        [settings.topic_labels, settings.topic_merchant_features],
        partitions=settings.topic_partitions,
        compacted=[settings.topic_merchant_features],
    )


def merchant_sources(spark: SparkSession, settings: StreamSettings) -> tuple[DataFrame, DataFrame]:
    """The good swipes and the good labels, each from its own Kafka source.

    Two sources, not one subscribed to both topics: Spark scans a source once per branch that
    reads it, so one source split by topic would read every swipe twice.
    """
    swipes = good_swipes(parse_swipes(read_topic(spark, settings, settings.topic_swipes)))
    labels = good_labels(parse_labels(read_topic(spark, settings, settings.topic_labels)))
    return swipes, labels


def start_merchant_features(
    spark: SparkSession, settings: StreamSettings, clock: Clock = utc_now
) -> StreamingQuery:
    """The per-merchant fold: records to the compacted merchant topic and to Delta `merchant_features`."""
    _ensure_topics(settings)
    swipes, labels = merchant_sources(spark, settings)
    records = merchant_features_stream(swipes, labels, settings.merchant_config, settings.watermark_s, clock)
    return start_published(
        records,
        settings,
        key="merchant_id",
        topic=settings.topic_merchant_features,
        table=TABLE_MERCHANT_FEATURES,
        query=QUERY_MERCHANTS,
        trigger_s=settings.history_trigger_s,
    )
