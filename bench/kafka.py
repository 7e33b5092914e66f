"""The Kafka side of the benchmarks: a throwaway embedded broker, and the raw client baselines."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from services.generator.publish import producer_config
from services.kafka.broker import BrokerConfig, EmbeddedKafka


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_name(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def embedded_broker(data_dir: Path, jars_dir: Path) -> Iterator[str]:
    """A real single-node KRaft broker on free ports under `data_dir`; yields its bootstrap address."""
    broker = EmbeddedKafka(
        BrokerConfig(data_dir=data_dir, jars_dir=jars_dir, port=free_port(), controller_port=free_port())
    )
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": fresh_name("hw"), "log_level": 3})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def raw_consume_rate(bootstrap: str, topic: str) -> tuple[int, float]:
    """Read `topic` from the beginning to its current end as fast as one consumer can: (records, seconds).

    The physical limit for anything that reads the topic on this machine: no parsing, just fetch.
    The clock starts at the first record, so connecting and the first metadata round trip do not count.
    """
    targets = high_watermarks(bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": fresh_name("raw"),
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "fetch.max.bytes": 52_428_800,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in targets])
    wanted, read = sum(targets.values()), 0
    positions = dict.fromkeys(targets, 0)
    started = deadline = time.perf_counter()
    try:
        while any(positions[p] < targets[p] for p in targets):
            batch = consumer.consume(10_000, 1.0)
            if batch and read == 0:
                started = time.perf_counter()
            for msg in batch:
                partition, offset = msg.partition(), msg.offset()
                if msg.error() is None and partition is not None and offset is not None:
                    read += 1
                    positions[partition] = offset + 1
            if time.perf_counter() - deadline > 300:
                raise RuntimeError(f"read {read} of {wanted} records of {topic} in 300 s; is the broker up?")
        return read, time.perf_counter() - started
    finally:
        consumer.close()


def produce_waiting(producer: Producer, topic: str, key: bytes, value: bytes) -> None:
    """Produce one record, waiting for room in the producer's queue when it is full."""
    while True:
        try:
            producer.produce(topic, value=value, key=key)
            return
        except BufferError:
            producer.poll(0.05)


def raw_produce_seconds(bootstrap: str, records: Sequence[tuple[str, bytes, bytes]]) -> float:
    """Seconds to produce (topic, key, value) records with the publishers' own producer settings, flushed."""
    producer = Producer(producer_config(bootstrap))
    started = time.perf_counter()
    for i, (topic, key, value) in enumerate(records):
        produce_waiting(producer, topic, key, value)
        if i % 1000 == 0:
            producer.poll(0)
    left = producer.flush(120)
    if left:
        raise RuntimeError(f"{left} records not delivered within 120 s")
    return time.perf_counter() - started
