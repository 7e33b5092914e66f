"""The history query: one source over swipes, labels and decisions, each landing in its own Delta table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from foundation.tables import TABLE_DECISIONS, TABLE_LABELS, TABLE_SWIPES
from streaming.history import start_history
from streaming.schema import Label, to_kafka
from streaming.settings import StreamSettings
from tests.integration._stream_support import T0, card, swipe
from tests.integration.builders import record

pytestmark = pytest.mark.integration


def test_latest_skips_old_swipes_and_labels_but_keeps_every_decision(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    settings = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_labels=topic_factory("labels"),
        topic_decisions=topic_factory("decisions"),
        state_dir=tmp_path,
        starting_offsets="latest",
        history_trigger_s=0.5,
    )
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})

    def publish(n: int) -> None:
        swiped = swipe(f"s{n}", card(n), n)
        label = Label.of(swiped, is_fraud=True, scenario="chargeback", reported_at=T0 + timedelta(hours=n))
        producer.produce(settings.topic_swipes, key=swiped.card_token.encode(), value=to_kafka(swiped))
        producer.produce(settings.topic_labels, key=swiped.card_token.encode(), value=to_kafka(label))
        producer.produce(settings.topic_decisions, value=to_kafka(record(n)))
        assert producer.flush(10) == 0

    publish(1)  # before the query starts: only its decision is history the job keeps
    query = start_history(spark, settings)
    try:
        query.processAllAvailable()
        publish(2)
        query.processAllAvailable()
        assert query.exception() is None
    finally:
        query.stop()

    def ids(table: str) -> list[str]:
        return sorted(r.swipe_id for r in spark.read.format("delta").load(settings.table(table)).collect())

    assert ids(TABLE_SWIPES) == ["s2"]
    assert ids(TABLE_LABELS) == ["s2"]
    assert ids(TABLE_DECISIONS) == ["sw-1", "sw-2"]
