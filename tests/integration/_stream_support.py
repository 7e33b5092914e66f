"""Swipe builders and Kafka helpers shared by the streaming integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from confluent_kafka import Consumer, Producer
from pyspark.sql import Row

from scoring.serving.online import OnlineFeatureTable
from streaming.card_state import FeatureConfig
from streaming.schema import CardFeatures, CardTile, Swipe, from_kafka, to_kafka

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def card(n: int) -> str:
    return f"ct_{n:032x}"


def swipe(
    swipe_id: str,
    card_token: str,
    minutes: float,
    amount: float = 10.0,
    merchant: str = "m-1",
    country: str = "FR",
    **extra: object,
) -> Swipe:
    return Swipe(
        swipe_id=swipe_id,
        card_token=card_token,
        amount=amount,
        currency="EUR",
        merchant_id=merchant,
        mcc="5411",
        country=country,
        event_time=T0 + timedelta(minutes=minutes),
        **extra,  # type: ignore[arg-type]
    )


def produce(bootstrap: str, topic: str, records: Iterable[Swipe | bytes]) -> None:
    """Swipes keyed by card (so a card's swipes stay in order on one partition), or raw bytes."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for record in records:
        if isinstance(record, Swipe):
            producer.produce(topic, key=record.card_token.encode(), value=to_kafka(record))
        else:
            producer.produce(topic, key=b"junk", value=record)
    assert producer.flush(10) == 0, "swipes were not all delivered to Kafka within 10 s"


class TopicReader:
    """Reads a topic from the beginning, accumulating everything across `poll_all` calls."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([topic])
        self.messages: list[tuple[bytes | None, bytes]] = []

    def poll_all(self, seconds: float = 1.0) -> list[tuple[bytes | None, bytes]]:
        for msg in self.consumer.consume(num_messages=1000, timeout=seconds):
            if msg.error() is None and (value := msg.value()) is not None:
                self.messages.append((msg.key(), value))
        return self.messages

    def close(self) -> None:
        self.consumer.close()


def tile_of_row(row: Row) -> CardTile:
    """A tile row of `streaming.tile_spark` (a batch frame or a memory sink) as its CardTile record."""
    return CardTile.model_validate({k: v for k, v in row.asDict(recursive=True).items() if k != "tile_end"})


def newest(records: Iterable[CardTile]) -> dict[str, CardTile]:
    """The newest value of each tile, by its key: the one with the most swipes (a consumer keeps it)."""
    out: dict[str, CardTile] = {}
    for record in records:
        held = out.get(record.key)
        if held is None or (record.count, record.last_us) >= (held.count, held.last_us):
            out[record.key] = record
    return out


def newest_tiles(messages: Iterable[tuple[bytes | None, bytes]]) -> dict[str, CardTile]:
    """The newest value of each tile on a card-tiles topic, by its key."""
    records = []
    for key, value in messages:
        record = from_kafka(CardTile, value)
        assert key == record.key.encode(), "a tile is keyed by card, grain and start"
        records.append(record)
    return newest(records)


def merged_features(
    messages: Iterable[tuple[bytes | None, bytes]], config: FeatureConfig
) -> dict[str, CardFeatures]:
    """Each card's features merged from the tiles on a card-tiles topic by the scorer's own table."""
    table = OnlineFeatureTable(config)
    for _, value in messages:
        table.take(from_kafka(CardTile, value), value, T0.timestamp())
    merged = {token: table.get(token) for token in table.flush()}
    return {token: f for token, f in merged.items() if f is not None}
