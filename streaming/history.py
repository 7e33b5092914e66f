"""The history query: one Kafka source over swipes, labels, decisions, reviews; each Delta table written once.

    history   swipes    -> Delta `swipes`        (every valid swipe, late or not)
              labels    -> Delta `labels`        (every valid label as received; training reads it)
              decisions -> Delta `decisions`     (the scorer's audit trail, streaming.audit)
              reviews   -> Delta `reviews`       (the review queue's cases, opened and closed)
              invalid swipes and labels -> Delta `dead_letters`, raw bytes and the reason kept

One source, one checkpoint and one trigger (the long history trigger) for the four topics: each
swipe is read from Kafka and parsed once here, and a micro-batch costs one set of Delta commits
instead of three queries each paying their own. Nothing waits on these tables at the second: the
scorer reads the tiles of the hot query, so this query runs rarely and in big batches, off the
freshness path.

Each append carries txnAppId/txnVersion (streaming.sinks.append_once): a batch replayed after a
crash or a restart is not written twice, table by table.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from confluent_kafka.admin import AdminClient
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from foundation.tables import TABLE_DEAD_LETTERS, TABLE_DECISIONS, TABLE_LABELS, TABLE_REVIEWS, TABLE_SWIPES
from foundation.topics import admin_config, ensure_topics
from streaming.audit import decision_rows
from streaming.features import dead_letters, good_swipes, parse_swipes
from streaming.merchant_features import good_labels, parse_labels
from streaming.reviews import review_rows
from streaming.settings import StreamSettings
from streaming.sinks import (
    app_id,
    append_once,
    history_writer,
    read_topic,
    start_batches,
)

QUERY_HISTORY = "history"
# Kafka's offset codes in Spark's startingOffsets JSON.
_EARLIEST, _LATEST = -2, -1

# Told how many invalid records a batch sent to dead_letters (the job counts them in Prometheus).
OnInvalid = Callable[[int], None]


def starting_offsets(settings: StreamSettings, partitions: dict[str, int]) -> str:
    """The source's startingOffsets: the job's setting for swipes and labels, earliest for decisions
    and reviews.

    The trails keep every decision and review whatever the job's starting offsets are. "earliest" for all
    is the plain word; for "latest" Spark wants every partition of every topic spelled out, and
    `partitions` (topic -> partition count) gives them. A JSON setting is the user's own, passed on.
    """
    if settings.starting_offsets != "latest":
        return settings.starting_offsets
    by_topic = {
        settings.topic_swipes: _LATEST,
        settings.topic_labels: _LATEST,
        settings.topic_decisions: _EARLIEST,
        settings.topic_reviews: _EARLIEST,
    }
    return json.dumps(
        {topic: {str(p): code for p in range(partitions[topic])} for topic, code in by_topic.items()}
    )


def _partitions(bootstrap: str, topics: list[str]) -> dict[str, int]:
    metadata = AdminClient(admin_config(bootstrap)).list_topics(timeout=10)
    return {name: len(metadata.topics[name].partitions) for name in topics}


def read_history(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    """The four topics as one stream, created first if missing (the scorer and others write three)."""
    topics = [settings.topic_swipes, settings.topic_labels, settings.topic_decisions, settings.topic_reviews]
    ensure_topics(
        settings.bootstrap, topics, partitions=settings.topic_partitions, compacted=[settings.topic_reviews]
    )
    counts = _partitions(settings.bootstrap, topics) if settings.starting_offsets == "latest" else {}
    return read_topic(spark, settings, ",".join(topics), starting_offsets(settings, counts))


def write_history(
    batch: DataFrame, batch_id: int, settings: StreamSettings, on_invalid: OnInvalid | None = None
) -> None:
    """One micro-batch of Kafka rows of the four topics into their tables, each append once.

    A table gets an append only when the batch holds rows for it: an empty append would still cost
    a Delta commit. A replayed batch holds the same rows, so it skips the same tables.
    """
    app = app_id(batch, QUERY_HISTORY)
    batch.persist()
    cached: list[DataFrame] = [batch]
    try:
        per_topic = {str(row["topic"]): int(row["count"]) for row in batch.groupBy("topic").count().collect()}
        invalid: list[DataFrame] = []
        for topic, parse, good, table in (
            (settings.topic_swipes, parse_swipes, good_swipes, TABLE_SWIPES),
            (settings.topic_labels, parse_labels, good_labels, TABLE_LABELS),
        ):
            if not per_topic.get(topic):
                continue
            # Persisted: the good rows and the dead letters are two reads of one parse.
            parsed = parse(batch.where(F.col("topic") == topic)).persist()
            cached.append(parsed)
            append_once(good(parsed), settings.table(table), app, batch_id)
            invalid.append(dead_letters(parsed))
        if per_topic.get(settings.topic_decisions):
            decisions = decision_rows(batch.where(F.col("topic") == settings.topic_decisions))
            # merge_schema: tables written before the shadow columns take them on.
            append_once(decisions, settings.table(TABLE_DECISIONS), app, batch_id, merge_schema=True)
        if per_topic.get(settings.topic_reviews):
            reviews = review_rows(batch.where(F.col("topic") == settings.topic_reviews))
            append_once(reviews, settings.table(TABLE_REVIEWS), app, batch_id)
        if invalid:
            bad = invalid[0] if len(invalid) == 1 else invalid[0].unionByName(invalid[1])
            count = bad.count()
            if count:
                append_once(bad, settings.table(TABLE_DEAD_LETTERS), app, batch_id)
            if on_invalid is not None:
                on_invalid(count)
    finally:
        for frame in cached:
            frame.unpersist()


def start_history(
    spark: SparkSession, settings: StreamSettings, on_invalid: OnInvalid | None = None
) -> StreamingQuery:
    """The history query on the history trigger (streaming.settings.history_trigger_s)."""

    def write(batch: DataFrame, batch_id: int) -> None:
        write_history(batch, batch_id, settings, on_invalid)

    return start_batches(history_writer(read_history(spark, settings), settings, QUERY_HISTORY), write)
