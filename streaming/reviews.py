"""The review queue's trail: every case on `reviews` (opened, then closed by a verdict), in Delta `reviews`.

As the audit trail does for decisions (streaming.audit), each row keeps the case's whole JSON
(`record`) beside the columns people filter on: which swipes are still open, who closed which and
how. The history query (streaming.history) appends them, once per batch (txnAppId/txnVersion).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def review_rows(raw: DataFrame) -> DataFrame:
    """Kafka rows of the `reviews` topic -> one row per case event, the JSON kept whole in `record`."""
    record = F.col("value").cast("string")

    def field(path: str) -> F.Column:
        return F.get_json_object(record, f"$.{path}")

    return raw.select(
        field("swipe.swipe_id").alias("swipe_id"),
        field("swipe.card_token").alias("card_token"),
        field("status").alias("status"),
        field("verdict").alias("verdict"),
        field("analyst").alias("analyst"),
        field("decision").alias("decision"),
        F.from_json(field("reasons"), "array<struct<code:string>>").getField("code").alias("reasons"),
        field("swipe.event_time").cast("timestamp").alias("event_time"),
        field("decided_at").cast("timestamp").alias("decided_at"),
        field("closed_at").cast("timestamp").alias("closed_at"),
        record.alias("record"),
        "topic",
        "partition",
        "offset",
    )
