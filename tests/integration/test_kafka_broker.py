"""A message round-trips through the real embedded KRaft broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer

pytestmark = pytest.mark.integration


def test_message_round_trips_through_broker(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory("roundtrip")
    payload = uuid.uuid4().bytes
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"card", value=payload)
    assert producer.flush(10) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"g-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        got = None
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                got = msg
                break
        assert got is not None, "no message came back from the broker within 60 s"
        assert got.value() == payload
        assert got.key() == b"card"
    finally:
        consumer.close()
