"""Feature definitions as DataFrame -> DataFrame functions, shared by the streaming job and batch runs.

    parse_swipes      raw Kafka rows -> Swipe columns + `error` (None when the swipe is valid)
    good_swipes       the valid swipes, typed, with their Kafka position
    dead_letters      the invalid records, raw bytes kept, with the reason naming the field
    record_row/frame  a pandas fold's output rows (the merchant fold)
    closed_sessions   Spark session windows per card, emitted once closed

No readStream/writeStream here: `streaming.job` does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from streaming.schema import CardFeatures, MerchantFeatures, Swipe, spark_schema, to_kafka
from streaming.swipe_checks import field_checks

KAFKA_COLUMNS = ["topic", "partition", "offset", "kafka_timestamp"]
SWIPE_COLUMNS = list(Swipe.model_fields)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- parsing -------------------------------------------------------------------------------------


def parse_swipes(raw: DataFrame) -> DataFrame:
    """Parse Kafka rows (key, value, topic, partition, offset, timestamp) into typed Swipe columns.

    `error` is None for a valid swipe, otherwise every problem found, each naming the field:
    "amount: must be > 0; mcc: missing required field". Fields are read as JSON text and then
    cast, so a number sent as a string ("12.5") is accepted as pydantic's lax mode would; unknown
    fields are ignored (tolerant reader). The rules come from the pydantic `Swipe` model.
    """
    return parse_records(raw, Swipe)


def parse_records(raw: DataFrame, model: type[BaseModel]) -> DataFrame:
    """Kafka rows -> the model's typed columns, `error`, the raw key and value, the Kafka position."""
    as_text = spark_schema(model)
    text_schema = ", ".join(f"`{f.name}` string" for f in as_text.fields) + ", `_corrupt` string"
    parsed = raw.select(
        "key",
        "value",
        *KAFKA_COLUMNS[:3],
        F.col("timestamp").alias("kafka_timestamp"),
        F.from_json(
            F.col("value").cast("string"), text_schema, {"columnNameOfCorruptRecord": "_corrupt"}
        ).alias("j"),
    )
    typed: list[Column] = []
    problems: list[Column] = []
    for name, info in model.model_fields.items():
        column, errors = field_checks(name, info, as_text[name].dataType, F.col(f"j.`{name}`"))
        typed.append(column.alias(name))
        problems.extend(errors)
    malformed = (
        F.when(F.col("value").isNull(), F.lit("malformed JSON: empty Kafka value"))
        .when(
            F.col("j").isNull() | F.col("j._corrupt").isNotNull(),
            F.lit("malformed JSON: the value is not a JSON object"),
        )
        .otherwise(F.lit(None))
    )
    error = F.coalesce(malformed, F.nullif(F.concat_ws("; ", *problems), F.lit("")))
    return parsed.select(*typed, error.alias("error"), "key", "value", *KAFKA_COLUMNS)


def good_swipes(parsed: DataFrame) -> DataFrame:
    """The valid swipes: Swipe columns plus their Kafka position (topic, partition, offset, timestamp)."""
    return parsed.where(F.col("error").isNull()).select(*SWIPE_COLUMNS, *KAFKA_COLUMNS)


def dead_letters(parsed: DataFrame) -> DataFrame:
    """The invalid records, raw key and value bytes kept so they can be replayed once fixed."""
    return parsed.where(F.col("error").isNotNull()).select("key", "value", "error", *KAFKA_COLUMNS)


# --- fold records ------------------------------------------------------------------------------


def record_row(key_column: str, key: str, record: CardFeatures | MerchantFeatures) -> dict[str, Any]:
    """A feature record as a row of a fold's output: its key, its times and its Kafka value."""
    return {
        key_column: key,
        "as_of": pd.Timestamp(record.as_of),
        "computed_at": pd.Timestamp(record.computed_at),
        "value": to_kafka(record).decode("utf-8"),
    }


def record_frame(key_column: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[key_column, "as_of", "computed_at", "value"])


# --- sessions ------------------------------------------------------------------------------------


def closed_sessions(swipes: DataFrame, gap_s: int, watermark_s: int) -> DataFrame:
    """Per-card sessions (swipes at most `gap_s` apart), each emitted once, when it has closed.

    Streaming needs Append mode: a session is final once the watermark passes its end.
    `session_end` is Spark's session end: the last swipe plus the gap. Replayed swipes (same id
    within the watermark) are counted once, like the fold does.
    """
    window = F.session_window("event_time", f"{gap_s} seconds")
    watermarked = swipes.withWatermark("event_time", f"{watermark_s} seconds")
    unique = (
        watermarked.dropDuplicatesWithinWatermark(["swipe_id"])
        if swipes.isStreaming
        else watermarked.dropDuplicates(["swipe_id"])
    )
    return (
        unique.groupBy(window.alias("session"), "card_token")
        .agg(
            F.count("*").alias("swipes"),
            F.round(F.sum("amount"), 6).alias("amount"),
            F.size(F.collect_set("merchant_id")).alias("merchants"),
            F.size(F.collect_set("country")).alias("countries"),
        )
        .select(
            "card_token",
            F.col("session.start").alias("session_start"),
            F.col("session.end").alias("session_end"),
            "swipes",
            "amount",
            "merchants",
            "countries",
        )
    )
