"""Decisions on the `decisions` topic land in Delta `decisions`, once, with the scorer's whole record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from foundation.tables import TABLE_DECISIONS
from streaming.audit import decision_rows
from streaming.decision_record import DecisionRecord, ReasonOut
from streaming.history import start_history
from streaming.schema import to_kafka
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually

pytestmark = pytest.mark.integration

TOKEN = "ct_" + "0a" * 16


def record(i: int, decision: str = "deny") -> DecisionRecord:
    return DecisionRecord(
        swipe_id=f"sw-{i}",
        card_token=TOKEN,
        decision=decision,  # type: ignore[arg-type]
        score=0.91,
        threshold=0.5,
        reasons=[
            ReasonOut(code="rule:impossible-travel", detail="fast", value="deny"),
            ReasonOut(code="model_score", detail="s", value=0.91),
        ],
        model_version="v7",
        features_as_of=datetime(2026, 11, 26, 8, 59, tzinfo=UTC),
        feature_age_ms=1200,
        degraded=False,
        inputs={"amount_log": 3.2},
        event_time=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        decided_at=datetime(2026, 11, 26, 9, 0, 0, 4000, tzinfo=UTC),
    )


def test_decision_rows_keep_the_columns_people_filter_on(spark: Any) -> None:
    raw = spark.createDataFrame(
        [(None, to_kafka(record(1)), "decisions", 0, 5)],
        "key binary, value binary, topic string, partition int, offset long",
    )
    rows = decision_rows(raw)
    assert rows.columns == [
        *("swipe_id", "card_token", "decision", "score", "model_version", "degraded", "reasons"),
        *("event_time", "decided_at", "record", "topic", "partition", "offset"),
    ]
    assert dict(rows.dtypes)["score"] == "double" and dict(rows.dtypes)["degraded"] == "boolean"
    row = rows.collect()[0]
    assert (row.swipe_id, row.card_token, row.decision, row.score, row.model_version) == (
        "sw-1",
        TOKEN,
        "deny",
        0.91,
        "v7",
    )
    assert row.reasons == ["rule:impossible-travel", "model_score"]
    assert row.event_time == datetime(2026, 11, 26, 9, 0)  # session time zone is UTC
    assert DecisionRecord.model_validate_json(row.record) == record(1)


def test_decisions_reach_delta_exactly_once_across_a_restart(
    spark: Any, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    settings = StreamSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_labels=topic_factory("labels"),
        topic_decisions=topic_factory("decisions"),
        state_dir=tmp_path,
        history_trigger_s=0.5,
    )
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})

    def publish(ids: range) -> None:
        for i in ids:
            producer.produce(settings.topic_decisions, key=TOKEN, value=to_kafka(record(i)))
        assert producer.flush(10) == 0

    def run_until(expected: int) -> None:
        query = start_history(spark, settings)
        try:
            query.processAllAvailable()

            def landed() -> None:
                table = spark.read.format("delta").load(settings.table(TABLE_DECISIONS))
                assert table.count() == expected

            assert_eventually(landed, timeout=60)
        finally:
            query.stop()

    publish(range(5))
    run_until(5)
    publish(range(5, 8))
    run_until(8)
    ids = [r.swipe_id for r in spark.read.format("delta").load(settings.table(TABLE_DECISIONS)).collect()]
    assert sorted(ids) == sorted(f"sw-{i}" for i in range(8))
