"""A broker of a three-node KRaft cluster dies mid-stream: acks=all swipes survive, a consumer carries on.

A plain consumer group stands in for the feature job and the scorer: starting Spark against the
cluster as well would cost a minute of the suite's budget and prove nothing more about Kafka.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from foundation.settings import StackSettings
from services.generator.publish import producer_config
from streaming.schema import to_kafka
from tests.eventually import assert_eventually
from tests.integration._kafka_cluster import KafkaCluster
from tests.integration._stream_support import card, swipe

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

SWIPES = 2000
RATE_PER_S = 120.0


class SwipeIds:
    """The swipe ids a consumer has read, in a thread, until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"reliability-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
            }
        )
        self.consumer.subscribe([topic])
        self.ids: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SwipeIds:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self.consumer.consume(500, 0.2):
                error = msg.error()
                if error is None:
                    self.ids.append(json.loads(msg.value() or b"{}")["swipe_id"])
                elif error.code() != KafkaError._PARTITION_EOF:
                    self.errors.append(str(error))
        self.consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def test_acknowledged_swipes_survive_a_broker_kill(tmp_path: Path) -> None:
    cluster = KafkaCluster(tmp_path / "cluster", StackSettings().jars_dir).start()
    topic = f"swipes-{uuid.uuid4().hex[:8]}"
    reader: SwipeIds | None = None
    try:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        new = NewTopic(topic, num_partitions=3, replication_factor=3, config={"min.insync.replicas": "2"})
        admin.create_topics([new], operation_timeout=30)[topic].result()

        def leaders() -> dict[int, int]:
            partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
            assert len(partitions) == 3 and all(p.leader >= 0 for p in partitions.values())
            assert all(len(p.isrs) == 3 for p in partitions.values()), "every replica in sync"
            return {p: meta.leader for p, meta in partitions.items()}

        victim = assert_eventually(leaders, timeout=30)[0]
        reader = SwipeIds(cluster.bootstrap, topic).start()

        acked: list[str] = []
        failed: list[str] = []

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            swipe_id = json.loads(msg.value() or b"{}")["swipe_id"]
            (failed if err is not None else acked).append(f"{swipe_id}: {err}" if err else swipe_id)

        producer = Producer(producer_config(cluster.bootstrap))
        assert producer_config(cluster.bootstrap)["acks"] == "all"
        killed_after = 0
        started = time.monotonic()
        for i in range(SWIPES):
            s = swipe(f"sw-{i:05d}", card(i % 97), i / 60)
            producer.produce(topic, key=s.card_token, value=to_kafka(s), on_delivery=on_delivery)
            producer.poll(0)
            if i == SWIPES // 3:
                # The leader of partition 0 dies with records unacknowledged in the producer's queue.
                killed_after = len(acked)
                cluster.node(victim).kill()
            ahead = (i + 1) / RATE_PER_S - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        assert producer.flush(60) == 0, "records still undelivered 60 s after the last send"

        assert failed == [], (
            f"with 2 of 3 replicas alive and min.insync.replicas=2, writes must succeed: {failed[:5]}"
        )
        assert len(acked) == SWIPES and killed_after > 0
        moved = leaders_after_kill(admin, topic)
        assert victim not in moved.values(), f"node {victim} is dead but still leads {moved}"

        # A new reader, as a restarted job would be: every acknowledged swipe is there, once.
        fresh = SwipeIds(cluster.bootstrap, topic).start()
        try:
            assert_eventually(lambda: _all_read(fresh, acked), timeout=60)
        finally:
            fresh.stop()
        assert sorted(fresh.ids) == sorted(acked), "a swipe was duplicated (or read twice)"

        # The reader that was running when the broker died carries on, past the kill.
        assert_eventually(lambda: _all_read(reader, acked), timeout=60)
    finally:
        if reader is not None:
            reader.stop()
        cluster.stop()


def leaders_after_kill(admin: AdminClient, topic: str) -> dict[int, int]:
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    return {p: meta.leader for p, meta in partitions.items()}


def _all_read(reader: SwipeIds, acked: list[str]) -> None:
    missing = set(acked) - set(reader.ids)
    assert not missing, f"{len(missing)} acknowledged swipes not read yet, e.g. {sorted(missing)[:3]}"
