"""Decisions on the `decisions` topic land in Delta `decisions`, once, with the scorer's whole record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from foundation.tables import TABLE_DECISIONS
from streaming.audit import decision_rows
from streaming.decision_record import DecisionRecord
from streaming.history import start_history
from streaming.schema import to_kafka
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually
from tests.integration.builders import TOKEN, record

pytestmark = pytest.mark.integration


def test_decision_rows_keep_the_columns_people_filter_on(spark: Any) -> None:
    raw = spark.createDataFrame(
        [(None, to_kafka(record(1)), "decisions", 0, 5)],
        "key binary, value binary, topic string, partition int, offset long",
    )
    rows = decision_rows(raw)
    assert rows.columns == [
        *("swipe_id", "card_token", "decision", "score", "model_version", "degraded", "reasons"),
        *("event_time", "decided_at", "record", "topic", "partition", "offset"),
        *("shadow_decision", "shadow_score", "shadow_model_version"),
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
