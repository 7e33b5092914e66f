"""The audit trail: every decision the scorer published on `decisions`, appended to Delta `decisions`.

The record keeps the scorer's full JSON (`record`) beside the columns people filter on, so a
question about one swipe ("why was it denied, by which model?") is one Delta query. Written in
foreachBatch with txnAppId/txnVersion: a replayed batch is not written twice.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from services.topics import ensure_topics
from streaming.settings import StreamSettings
from streaming.sinks import app_id, append_once, history_writer, start_batches

QUERY_DECISIONS = "decisions"
TABLE_DECISIONS = "decisions"
DECISIONS_SCHEMA = (
    "swipe_id string, card_token string, decision string, score double, model_version string, "
    "degraded boolean, reasons array<string>, event_time timestamp, decided_at timestamp, "
    "record string, topic string, partition int, offset long"
)


def decision_rows(raw: DataFrame) -> DataFrame:
    """Kafka rows of the `decisions` topic -> one row per decision, the JSON kept whole in `record`."""
    record = F.col("value").cast("string")

    def field(path: str) -> F.Column:
        return F.get_json_object(record, f"$.{path}")

    return raw.select(
        field("swipe_id").alias("swipe_id"),
        field("card_token").alias("card_token"),
        field("decision").alias("decision"),
        field("score").cast("double").alias("score"),
        field("model_version").alias("model_version"),
        field("degraded").cast("boolean").alias("degraded"),
        F.from_json(field("reasons"), "array<struct<code:string>>").getField("code").alias("reasons"),
        field("event_time").cast("timestamp").alias("event_time"),
        field("decided_at").cast("timestamp").alias("decided_at"),
        record.alias("record"),
        "topic",
        "partition",
        "offset",
    )


def start_decisions(spark: SparkSession, settings: StreamSettings) -> StreamingQuery:
    """Decisions topic -> Delta `decisions`, on the history trigger, appended once per batch.

    The scorer writes the topic; it may not exist yet when the job starts (a fresh cluster), so it is
    created here rather than failing the query. It always starts from the earliest offset: the
    audit trail keeps every decision, whatever the job's starting offsets for swipes are.
    """
    ensure_topics(settings.bootstrap, [settings.topic_decisions], partitions=settings.topic_partitions)
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap)
        .option("subscribe", settings.topic_decisions)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
        .load()
    )

    def write(batch: DataFrame, batch_id: int) -> None:
        append_once(batch, settings.table(TABLE_DECISIONS), app_id(batch, QUERY_DECISIONS), batch_id)

    return start_batches(history_writer(decision_rows(raw), settings, QUERY_DECISIONS), write)
