"""The online feature tables and the threads that fill them from the compacted feature topics.

Two tables, one mechanism: cards from `card-features` (keyed by card token) and merchants from
`merchant-features` (keyed by merchant id).

Memory: a card costs its feature record as zlib-compressed Kafka JSON plus its dict slot, token and
entry tuple: about 780 bytes of Python objects for a full profile (16 countries, 32 merchants,
16 MCCs; see tests/unit/scoring/test_online.py), less for young cards. With 1M real cards the
process grew by 970 bytes of RSS per card (`fraudstream bench catchup`), so 1M cards take ~1 GB.
A parsed record would cost ~8 KB. Reading one back (decompress + validate) takes ~30 µs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from pydantic import ValidationError

from streaming.schema import CardFeatures, MerchantFeatures, from_kafka, to_kafka

log = logging.getLogger("fraudstream.scoring.online")

R = TypeVar("R", CardFeatures, MerchantFeatures)


class OnlineTable(Generic[R]):
    """key -> newest record by `order` (as_of first); older records are ignored.

    One writer (the follower thread) and any number of readers: each update is a single dict
    assignment, atomic under the GIL. Records are held as zlib-compressed Kafka JSON.
    """

    def __init__(
        self, record_type: type[R], key: Callable[[R], str], order: Callable[[R], tuple[float, float]]
    ) -> None:
        self.record_type: type[R] = record_type
        self._key: Callable[[R], str] = key
        self._order: Callable[[R], tuple[float, float]] = order
        self._records: dict[str, tuple[float, float, bytes]] = {}

    def __len__(self) -> int:
        return len(self._records)

    def upsert(self, record: R, raw: bytes | None = None) -> bool:
        """Keep `record` if it is newer than what the table holds; True when it was kept."""
        order: tuple[float, float] = self._order(record)
        key = self._key(record)
        held = self._records.get(key)
        if held is not None and (held[0], held[1]) > order:
            return False
        self._records[key] = (*order, zlib.compress(raw or to_kafka(record), 1))
        return True

    def remove(self, key: str) -> None:
        self._records.pop(key, None)

    def get(self, key: str) -> R | None:
        held = self._records.get(key)
        if held is None:
            return None
        return from_kafka(self.record_type, zlib.decompress(held[2]))


class OnlineFeatureTable(OnlineTable[CardFeatures]):
    """card_token -> the card's newest CardFeatures, by `as_of` then `computed_at`."""

    def __init__(self) -> None:
        super().__init__(
            CardFeatures,
            lambda record: record.card_token,
            lambda record: (record.as_of.timestamp(), record.computed_at.timestamp()),
        )


class OnlineMerchantTable(OnlineTable[MerchantFeatures]):
    """merchant_id -> the merchant's newest MerchantFeatures, by `as_of` then `events` folded."""

    def __init__(self) -> None:
        super().__init__(
            MerchantFeatures,
            lambda record: record.merchant_id,
            lambda record: (record.as_of.timestamp(), float(record.events)),
        )


class FeatureFollower:
    """Reads the features topic from the beginning into the table, then follows it.

    No network call happens before `start()`: the consumer is created in the thread. `ready` turns
    true once every partition reached the high watermark it had when the follower started, and
    stays true. Partitions are assigned directly (no group management, no commits): every scorer
    replica holds the whole table.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        table: OnlineTable[Any],
        *,
        consumer_factory: Callable[[dict[str, Any]], Any] = Consumer,
        clock: Callable[[], float] = time.time,
        poll_timeout_s: float = 0.2,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.table = table
        self._consumer_factory = consumer_factory
        self._clock = clock
        self._poll_timeout_s = poll_timeout_s
        self._config = {
            "bootstrap.servers": bootstrap,
            "group.id": f"fraudstream-scorer-{uuid.uuid4().hex[:12]}",
            "client.id": "fraudstream-scorer",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            # librdkafka's own log lines go through Python logging (JSON), not raw to stderr.
            "logger": logging.getLogger("fraudstream.scoring.kafka"),
            **(config or {}),
        }
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._positions: dict[int, int] = {}
        self._highs: dict[int, int] = {}
        self._targets: dict[int, int] = {}  # high watermarks at start: `ready` means reaching these
        self.applied = 0
        self.malformed = 0
        self.last_update: float | None = None
        self.error: str | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def lag(self) -> int:
        """Records between our position and the high watermark, summed over partitions."""
        return sum(max(0, high - self._positions.get(p, 0)) for p, high in list(self._highs.items()))

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"follower-{self.topic}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def apply(self, value: bytes | None, key: bytes | None = None) -> None:
        """Apply one record value: newest wins; a tombstone removes the key; garbage is counted."""
        if value is None:
            if key:
                self.table.remove(key.decode("utf-8", "replace"))
            return
        try:
            record = from_kafka(self.table.record_type, value)
        except (ValidationError, ValueError) as exc:
            self.malformed += 1
            if self.malformed <= 10 or self.malformed % 1000 == 0:
                log.warning(
                    "skipped malformed feature record",
                    extra={"count": self.malformed, "error": str(exc)[:200]},
                )
            return
        self.table.upsert(record, value)
        self.applied += 1
        self.last_update = self._clock()

    def _run(self) -> None:
        consumer = self._consumer_factory(self._config)
        try:
            partitions = self._discover(consumer)
            if partitions is None:
                return
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
            caught = {p for p in partitions if self._targets[p] <= self._positions[p]}
            self._mark_ready(caught, partitions)
            while not self._stop.is_set():
                for msg in consumer.consume(500, self._poll_timeout_s):
                    p, err = msg.partition(), msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            self._positions[p] = msg.offset()
                            caught.add(p)
                        else:
                            self._warn(f"reading {self.topic} from {self.bootstrap} failed: {err}")
                        continue
                    self.apply(msg.value(), msg.key())
                    self._positions[p] = msg.offset() + 1
                    if self._positions[p] >= self._targets[p]:
                        caught.add(p)
                self._mark_ready(caught, partitions)
                self._refresh_highs(consumer, partitions)
        except Exception:
            log.exception("feature follower stopped on an unexpected error; features will go stale")
            raise
        finally:
            consumer.close()

    def _discover(self, consumer: Any) -> list[int] | None:
        """Partitions and their high watermarks at start; retries until Kafka answers or stop()."""
        while not self._stop.is_set():
            try:
                meta = consumer.list_topics(self.topic, timeout=2)
                topic = meta.topics.get(self.topic)
                if topic is None or topic.error is not None or not topic.partitions:
                    raise RuntimeError(
                        f"topic {self.topic!r} not found ({topic.error if topic else 'absent'})"
                    )
                partitions = sorted(topic.partitions)
                for p in partitions:
                    low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=5)
                    self._positions[p], self._highs[p], self._targets[p] = low, high, high
                self.error = None
                return partitions
            except Exception as exc:
                self._warn(
                    f"Kafka at {self.bootstrap} has no readable topic {self.topic!r} yet ({exc}); retrying. "
                    "Start the stack with `fraudstream up` or set FRAUDSTREAM_KAFKA_BOOTSTRAP."
                )
                self._stop.wait(1.0)
        return None

    def _refresh_highs(self, consumer: Any, partitions: list[int]) -> None:
        # Cached watermarks come with fetch responses: no extra request to the broker.
        for p in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), cached=True)
            if high is not None and high >= 0:
                self._highs[p] = high

    def _mark_ready(self, caught: set[int], partitions: list[int]) -> None:
        if not self._ready.is_set() and caught.issuperset(partitions):
            self._ready.set()
            log.info(
                "feature table caught up",
                extra={"topic": self.topic, "keys": len(self.table), "records": self.applied},
            )

    def _warn(self, message: str) -> None:
        if message != self.error:
            log.warning(message)
        self.error = message
