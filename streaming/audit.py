"""The audit trail: every decision the scorer published on `decisions`, appended to Delta `decisions`.

The record keeps the scorer's full JSON (`record`) beside the columns people filter on, so a
question about one swipe ("why was it denied, by which model?") is one Delta query. The history
query (streaming.history) appends them, with txnAppId/txnVersion: a replayed batch is not written twice.
A challenger's decision (FRAUDSTREAM_SHADOW_MODEL / _RULES) has its own columns, `shadow_*`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType

from streaming.decision_record import DecisionRecord, ReasonOut
from streaming.schema import spark_schema

# The record's fields people filter on, each a column of its own typed as DecisionRecord types it,
# in the table's column order; the reasons (their codes) stand between the two groups.
COLUMNS = ("swipe_id", "card_token", "decision", "score", "model_version", "degraded")
TIME_COLUMNS = ("event_time", "decided_at")


def decision_rows(raw: DataFrame) -> DataFrame:
    """Kafka rows of the `decisions` topic -> one row per decision, the JSON kept whole in `record`."""
    record = F.col("value").cast("string")
    reason_codes = ArrayType(spark_schema(ReasonOut, ("code",)))

    def field(path: str) -> F.Column:
        return F.get_json_object(record, f"$.{path}")

    def typed(names: tuple[str, ...]) -> list[F.Column]:
        return [field(c.name).cast(c.dataType).alias(c.name) for c in spark_schema(DecisionRecord, names)]

    return raw.select(
        *typed(COLUMNS),
        F.from_json(field("reasons"), reason_codes).getField("code").alias("reasons"),
        *typed(TIME_COLUMNS),
        record.alias("record"),
        "topic",
        "partition",
        "offset",
        # The challenger's decision (scoring.serving.shadow), null when no shadow ran; added columns, so a
        # table written before them takes them on at its next append (mergeSchema).
        field("shadow.decision").alias("shadow_decision"),
        field("shadow.score").cast("double").alias("shadow_score"),
        field("shadow.model_version").alias("shadow_model_version"),
    )
