"""Feature definitions as DataFrame -> DataFrame functions, shared by the streaming job and batch runs.

    parse_swipes      raw Kafka rows -> Swipe columns + `error` (None when the swipe is valid)
    good_swipes       the valid swipes, typed, with their Kafka position
    dead_letters      the invalid records, raw bytes kept, with the reason naming the field
    card_features_*   the per-card fold of `streaming.card_state`, streaming (stateful) or batch
    closed_sessions   Spark session windows per card, emitted once closed

No readStream/writeStream here: `streaming.job` does the I/O.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from pydantic import BaseModel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.streaming.state import GroupState, GroupStateTimeout

from streaming.card_state import CardState, FeatureConfig, RecentSwipe, features, fold
from streaming.schema import CardFeatures, MerchantFeatures, Swipe, spark_schema, to_kafka
from streaming.swipe_checks import field_checks

KAFKA_COLUMNS = ["topic", "partition", "offset", "kafka_timestamp"]
SWIPE_COLUMNS = list(Swipe.model_fields)
FEATURE_RECORD_SCHEMA = "card_token string, as_of timestamp, computed_at timestamp, value string"
_STATE_SCHEMA = "card string"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

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


# --- per-card state ------------------------------------------------------------------------------


def state_to_json(state: CardState) -> str:
    # vars(), not dataclasses.asdict: asdict deep-copies every list and costs ~10x more per card.
    fields = dict(vars(state))
    fields["recent"] = [vars(r) for r in state.recent]
    return json.dumps(fields, separators=(",", ":"))


def state_from_json(text: str) -> CardState:
    """The state back from the store. Fields CardState no longer has are dropped and new ones take
    their defaults, so a redeploy that changes CardState can resume from the old checkpoint."""
    known = {f.name for f in dataclasses.fields(CardState)}
    fields = {k: v for k, v in json.loads(text).items() if k in known}
    fields["recent"] = [RecentSwipe(**r) for r in fields.get("recent", [])]
    return CardState(**fields)


def _swipes_from_pandas(pdfs: Iterable[pd.DataFrame]) -> list[Swipe]:
    """Rows of the `_fold_input` shape back to Swipe objects, oldest first, ties by swipe id."""
    out = []
    for pdf in pdfs:
        names = list(pdf.columns)
        # One object-array conversion per frame gives Python scalars (float, int, str, None) about 20x
        # faster than to_dict("records") on the one- or two-row frames a card mostly gets per batch.
        for values in pdf.to_numpy(dtype=object).tolist():
            row = dict(zip(names, values, strict=True))
            event_us = row.pop("event_us")
            row.pop("event_time", None)
            fields = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            # Epoch microseconds, not pandas timestamps: no session-timezone conversion to undo.
            fields["event_time"] = _EPOCH + timedelta(microseconds=int(event_us))
            # parse_swipes validated every field in Spark; re-validating here would double the cost.
            out.append(Swipe.model_construct(**fields))
    out.sort(key=lambda s: (s.event_time, s.swipe_id))
    return out


def _fold_input(swipes: DataFrame) -> DataFrame:
    # event_time stays: the watermark is attached to it. The fold reads event_us instead.
    return swipes.select(*SWIPE_COLUMNS, F.unix_micros("event_time").alias("event_us"))


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


def _record(card_token: str, state: CardState, cfg: FeatureConfig, clock: Clock) -> dict[str, Any]:
    return record_row("card_token", card_token, features(card_token, state, cfg, computed_at=clock()))


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return record_frame("card_token", rows)


def with_feature_columns(records: DataFrame) -> DataFrame:
    """Add `features`: the JSON value as a struct, so the Delta table can be queried by field."""
    return records.withColumn("features", F.from_json("value", spark_schema(CardFeatures)))


def card_features_stream(
    swipes: DataFrame,
    cfg: FeatureConfig,
    watermark_s: int,
    idle_ttl_s: int,
    clock: Clock = utc_now,
) -> DataFrame:
    """One feature record per card touched in a micro-batch (update mode), from good swipes.

    The CardState lives in Spark's state store as JSON. Swipes older than the watermark are dropped
    by Spark (and counted as numRowsDroppedByWatermark); a card with no swipe for `idle_ttl_s` of
    event time is evicted. A micro-batch holding only already-seen swipes emits nothing.
    """
    ttl_ms = idle_ttl_s * 1000

    def fold_card(key: tuple[str], pdfs: Iterator[pd.DataFrame], state: GroupState) -> Iterator[pd.DataFrame]:
        if state.hasTimedOut:
            state.remove()
            return
        card = state_from_json(state.get[0]) if state.exists else CardState()
        folded = card.n
        fold(card, _swipes_from_pandas(pdfs), cfg)
        if card.n == 0:
            return
        state.update((state_to_json(card),))
        # Spark refuses a timeout behind the watermark (a late swipe on a long-idle card).
        state.setTimeoutTimestamp(max(int(card.last_t * 1000) + ttl_ms, state.getCurrentWatermarkMs() + 1))
        if card.n > folded:
            yield _frame([_record(str(key[0]), card, cfg, clock)])

    return with_feature_columns(
        _fold_input(swipes.withWatermark("event_time", f"{watermark_s} seconds"))
        .groupBy("card_token")
        .applyInPandasWithState(
            fold_card,
            outputStructType=FEATURE_RECORD_SCHEMA,
            stateStructType=_STATE_SCHEMA,
            outputMode="update",
            timeoutConf=GroupStateTimeout.EventTimeTimeout,
        )
    )


def card_features_batch(
    swipes: DataFrame, cfg: FeatureConfig, every_swipe: bool = False, clock: Clock = utc_now
) -> DataFrame:
    """The same fold over a static DataFrame of swipes (e.g. the Delta `swipes` table).

    By default one record per card: the final one, as of its newest swipe, which equals the
    stream's latest record for that card when the swipes arrived in event-time order.
    `every_swipe=True` emits the record after each swipe (point-in-time features, for training
    and for comparing every streamed record).
    """

    def fold_card(key: tuple[str], pdf: pd.DataFrame) -> pd.DataFrame:
        card, rows = CardState(), []
        swipes_in_order = _swipes_from_pandas([pdf])
        for chunk in [[s] for s in swipes_in_order] if every_swipe else [swipes_in_order]:
            before = card.n
            fold(card, chunk, cfg)
            if card.n > before:
                rows.append(_record(str(key[0]), card, cfg, clock))
        return _frame(rows)

    return with_feature_columns(
        _fold_input(swipes).groupBy("card_token").applyInPandas(fold_card, schema=FEATURE_RECORD_SCHEMA)
    )


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
