"""Labels and per-merchant features as DataFrame -> DataFrame functions, for the job and batch runs.

    parse_labels              raw Kafka rows of `labels` -> Label columns + `error`
    good_labels               the valid labels, typed, with their Kafka position
    merchant_features_stream  the per-merchant fold of `streaming.merchant_state`, stateful (update)
    merchant_features_batch   the same fold over static swipes and labels (parity, training)

Swipes and fraud labels meet in one fold per merchant. Each keeps its own event-time column and
watermark (swipes: `event_time`; labels: `reported_at`); Spark's global watermark is the smaller
of the two, so labels running ahead of the swipes never make swipes late. Until a first label
arrives Spark counts that input at 0: the watermark stays at 1970, nothing is late or evicted.
No readStream/writeStream here: `streaming.merchant_job` does the I/O.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.streaming.state import GroupState, GroupStateTimeout

from streaming.features import KAFKA_COLUMNS, Clock, parse_records, record_frame, record_row, utc_now
from streaming.merchant_state import (
    KnownFraud,
    MerchantBucket,
    MerchantConfig,
    MerchantEvent,
    MerchantState,
    arrival,
    features,
    fold,
)
from streaming.schema import Label, MerchantFeatures, Swipe, spark_schema

LABEL_COLUMNS = list(Label.model_fields)
MERCHANT_RECORD_SCHEMA = "merchant_id string, as_of timestamp, computed_at timestamp, value string"
_STATE_SCHEMA = "merchant string"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_labels(raw: DataFrame) -> DataFrame:
    """Kafka rows of the labels topic -> typed Label columns, `error` naming the field (None when valid)."""
    return parse_records(raw, Label)


def good_labels(parsed: DataFrame) -> DataFrame:
    """The valid labels: Label columns plus their Kafka position, as the Delta `labels` table keeps them."""
    return parsed.where(F.col("error").isNull()).select(*LABEL_COLUMNS, *KAFKA_COLUMNS)


# --- the fold's input: swipes and fraud labels in one shape ----------------------------------------

_FOLD_COLUMNS = ["merchant_id", "swipe_id", "amount", "event_us", "reported_us"]


def _swipe_input(swipes: DataFrame) -> DataFrame:
    # `at` carries the watermark: a swipe arrives at its event time.
    return swipes.select(
        "merchant_id",
        "swipe_id",
        "amount",
        F.unix_micros("event_time").alias("event_us"),
        F.lit(None).cast("long").alias("reported_us"),
        F.col("event_time").alias("at"),
    )


def _label_input(labels: DataFrame) -> DataFrame:
    # Only fraud labels change a merchant's features; a label arrives when it is reported.
    return labels.where(F.col("is_fraud")).select(
        "merchant_id",
        "swipe_id",
        F.lit(None).cast("double").alias("amount"),
        F.unix_micros("event_time").alias("event_us"),
        F.unix_micros("reported_at").alias("reported_us"),
        F.col("reported_at").alias("at"),
    )


def _events_from_pandas(pdfs: Iterable[pd.DataFrame]) -> list[MerchantEvent]:
    """Rows of the fold input back to Swipe and Label objects.

    Only the fields the fold reads are set (model_construct, no validation): parse_records validated
    every field in Spark, and the merchant fold reads no card, place or scenario.
    """
    out: list[MerchantEvent] = []
    for pdf in pdfs:
        for merchant_id, swipe_id, amount, event_us, reported_us in pdf[_FOLD_COLUMNS].to_numpy(dtype=object):
            event_time = _EPOCH + timedelta(microseconds=int(event_us))
            if pd.isna(reported_us):
                out.append(
                    Swipe.model_construct(
                        merchant_id=merchant_id,
                        swipe_id=swipe_id,
                        amount=float(amount),
                        event_time=event_time,
                    )
                )
            else:
                reported_at = _EPOCH + timedelta(microseconds=int(reported_us))
                out.append(
                    Label.model_construct(
                        merchant_id=merchant_id,
                        swipe_id=swipe_id,
                        is_fraud=True,
                        event_time=event_time,
                        reported_at=reported_at,
                    )
                )
    return out


def state_to_json(state: MerchantState) -> str:
    # Buckets and frauds as arrays, not objects: a busy merchant keeps ~900 hourly buckets.
    fields = dict(vars(state))
    fields["buckets"] = [[b.start, b.swipes, b.amount] for b in state.buckets]
    fields["frauds"] = [[f.swipe_id, f.t, f.reported] for f in state.frauds]
    return json.dumps(fields, separators=(",", ":"))


def state_from_json(text: str) -> MerchantState:
    """The state back from the store; unknown fields are dropped and new ones take their defaults."""
    known = {f.name for f in dataclasses.fields(MerchantState)}
    fields = {k: v for k, v in json.loads(text).items() if k in known}
    fields["buckets"] = [MerchantBucket(*b) for b in fields.get("buckets", [])]
    fields["frauds"] = [KnownFraud(*f) for f in fields.get("frauds", [])]
    return MerchantState(**fields)


def _record(merchant_id: str, state: MerchantState, cfg: MerchantConfig, clock: Clock) -> dict[str, Any]:
    return record_row("merchant_id", merchant_id, features(merchant_id, state, cfg, computed_at=clock()))


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return record_frame("merchant_id", rows)


def with_merchant_columns(records: DataFrame) -> DataFrame:
    """Add `features`: the JSON value as a struct, so the Delta table can be queried by field."""
    return records.withColumn("features", F.from_json("value", spark_schema(MerchantFeatures)))


def merchant_features_stream(
    swipes: DataFrame, labels: DataFrame, cfg: MerchantConfig, watermark_s: int, clock: Clock = utc_now
) -> DataFrame:
    """One record per merchant whose features changed in a micro-batch (update mode).

    `swipes` are good swipes and `labels` good labels, both streaming. Rows behind the watermark
    are dropped by Spark. A merchant's state is evicted once no swipe has come for the retention
    (label delay + longest fraud horizon) of event time: by then every bucket has aged out anyway.
    """
    delay = f"{watermark_s} seconds"
    events = _swipe_input(swipes.withWatermark("event_time", delay)).unionByName(
        _label_input(labels.withWatermark("reported_at", delay))
    )
    retention_ms = cfg.retention_s * 1000

    def fold_merchant(
        key: tuple[str], pdfs: Iterator[pd.DataFrame], state: GroupState
    ) -> Iterator[pd.DataFrame]:
        if state.hasTimedOut:
            state.remove()
            return
        merchant = state_from_json(state.get[0]) if state.exists else MerchantState()
        before = merchant.events
        fold(merchant, _events_from_pandas(pdfs), cfg)
        if merchant.events == 0:
            return
        state.update((state_to_json(merchant),))
        newest = merchant.last_swipe_t if merchant.last_swipe_t is not None else merchant.as_of
        state.setTimeoutTimestamp(max(int(newest * 1000) + retention_ms, state.getCurrentWatermarkMs() + 1))
        if merchant.events > before:
            yield _frame([_record(str(key[0]), merchant, cfg, clock)])

    return with_merchant_columns(
        events.groupBy("merchant_id").applyInPandasWithState(
            fold_merchant,
            outputStructType=MERCHANT_RECORD_SCHEMA,
            stateStructType=_STATE_SCHEMA,
            outputMode="update",
            timeoutConf=GroupStateTimeout.EventTimeTimeout,
        )
    )


def merchant_features_batch(
    swipes: DataFrame,
    labels: DataFrame,
    cfg: MerchantConfig,
    every_event: bool = False,
    clock: Clock = utc_now,
) -> DataFrame:
    """The same fold over static swipes and labels (e.g. the Delta `swipes` and `labels` tables).

    By default one record per merchant, as of its newest event: what the stream's latest record
    for the merchant is when every event arrived within the watermark. `every_event=True` emits
    the record after each event that changed the features (point in time, for training).
    """

    def fold_merchant(key: tuple[str], pdf: pd.DataFrame) -> pd.DataFrame:
        merchant, rows = MerchantState(), []
        events = sorted(_events_from_pandas([pdf]), key=lambda e: (arrival(e), e.swipe_id))
        for chunk in [[e] for e in events] if every_event else [events]:
            before = merchant.events
            fold(merchant, chunk, cfg)
            if merchant.events > before:
                rows.append(_record(str(key[0]), merchant, cfg, clock))
        return _frame(rows)

    events = _swipe_input(swipes).unionByName(_label_input(labels))
    return with_merchant_columns(
        events.groupBy("merchant_id").applyInPandas(fold_merchant, schema=MERCHANT_RECORD_SCHEMA)
    )
