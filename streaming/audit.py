"""The audit trail: every decision the scorer published on `decisions`, appended to Delta `decisions`.

The record keeps the scorer's full JSON (`record`) beside the columns people filter on, so a
question about one swipe ("why was it denied, by which model?") is one Delta query. The history
query (streaming.history) appends them, with txnAppId/txnVersion: a replayed batch is not written twice.
A challenger's decision (FRAUDSTREAM_SHADOW_MODEL / _RULES) has its own columns, `shadow_*`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

TABLE_DECISIONS = "decisions"
DECISIONS_SCHEMA = (
    "swipe_id string, card_token string, decision string, score double, model_version string, "
    "degraded boolean, reasons array<string>, event_time timestamp, decided_at timestamp, "
    "record string, topic string, partition int, offset long, "
    "shadow_decision string, shadow_score double, shadow_model_version string"
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
        # The challenger's decision (scoring.shadow), null when no shadow ran; added columns, so a
        # table written before them takes them on at its next append (mergeSchema).
        field("shadow.decision").alias("shadow_decision"),
        field("shadow.score").cast("double").alias("shadow_score"),
        field("shadow.model_version").alias("shadow_model_version"),
    )
