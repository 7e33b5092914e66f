"""The online feature tables and the threads that fill them from the compacted feature topics.

Two tables, one follower: cards from `card-tiles` (keyed by card, grain and tile start) and
merchants from `merchant-features` (keyed by merchant id).

The card table merges: it keeps each card's tiles and, once the follower has read what the broker
had (or every `MERGE_EVERY_S` of a longer read), merges every card whose tiles changed into its
`CardFeatures` (`streaming.card_state.features`, the code training and the backtest use), so a
request reads a merged vector and never merges. A card whose tiles of one job batch came in several
consume() batches is merged once, not once per batch (three times as often on a live stream:
docs/benchmarks.md, "The follower's merge").
A tile is validated once, where its bytes enter (`from_kafka`); the merge builds its record from
those values without validating them again. `fraudstream-bench merge` times the follower's
per-record and per-card work against `json.loads` of the same records.

Memory: a card's merged record is held in its plain form (`scoring.serving.plain`: its values,
marshalled and compressed; under a kilobyte for a full profile, see
tests/unit/scoring/serving/test_online.py); its tiles are held parsed beside it. Reading a record
back builds it without validating it a second time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from pydantic import ValidationError

from scoring.serving.plain import PlainRecords
from streaming.card_state import CardState, FeatureConfig, features
from streaming.schema import CardFeatures, CardTile, MerchantFeatures, ReviewCase, from_kafka
from streaming.tiles import Tile

log = logging.getLogger("fraudstream.scoring.online")

R = TypeVar("R", CardFeatures, MerchantFeatures, ReviewCase)

CONSUME_BATCH = 500  # records one consume() call hands the follower at most
MERGE_EVERY_S = 0.5  # the longest a follower reads full batches before it merges what they changed


class OnlineTable(Generic[R]):
    """key -> newest record by `order` (as_of first); older records are ignored.

    One writer (the follower thread) and any number of readers: each update is a single dict
    assignment, atomic under the GIL. Records are held in their plain form (`scoring.serving.plain`):
    every record put here is a validated one, so reading it back does not validate it again.
    """

    def __init__(
        self, record_type: type[R], key: Callable[[R], str], order: Callable[[R], tuple[float, float]]
    ) -> None:
        self.record_type: type[R] = record_type
        self._key: Callable[[R], str] = key
        self._order: Callable[[R], tuple[float, float]] = order
        self._plain: PlainRecords[R] = PlainRecords(record_type)
        self._records: dict[str, tuple[float, float, bytes]] = {}

    def __len__(self) -> int:
        return len(self._records)

    def upsert(self, record: R, *, replace: bool = False) -> bool:
        """Keep `record` if it is newer than what the table holds (or `replace`); True when kept."""
        order: tuple[float, float] = self._order(record)
        key = self._key(record)
        held = self._records.get(key)
        if held is not None and (held[0], held[1]) > order and not replace:
            return False
        self._records[key] = (*order, self._plain.dump(record))
        return True

    def remove(self, key: str) -> None:
        self._records.pop(key, None)

    def get(self, key: str) -> R | None:
        held = self._records.get(key)
        if held is None:
            return None
        return self._plain.load(held[2])

    @property
    def topic_type(self) -> type[Any]:
        """The record type on the table's topic."""
        return self.record_type

    def take(self, record: Any, raw: bytes, written_at: float) -> None:
        """A record read from the topic (`written_at`: its Kafka timestamp, epoch seconds)."""
        self.upsert(record)

    def forget(self, topic_key: str) -> None:
        """A tombstone on the topic: the record of that Kafka key is gone."""
        self.remove(topic_key)

    def flush(self) -> list[str]:
        """Finish what the records taken since the last flush changed; returns the keys changed."""
        return []


class OnlineFeatureTable(OnlineTable[CardFeatures]):
    """card_token -> the card's CardFeatures, merged from the tiles read from `card-tiles`.

    `take` keeps a tile (a newer value of a tile replaces the older: more swipes, or a newer one);
    `flush` trims each changed card's tiles and merges them, as of its newest swipe. A merged
    record's `computed_at` is the Kafka timestamp of its newest tile: when the job wrote it.
    `upsert` puts a merged record directly (tests, the bench).
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__(
            CardFeatures,
            lambda record: record.card_token,
            lambda record: (record.as_of.timestamp(), record.computed_at.timestamp()),
        )
        self.config = config or FeatureConfig()
        self._tiles: dict[str, CardState] = {}
        self._changed: dict[str, float] = {}  # card -> newest Kafka timestamp among its new tiles
        self.merge_failures = 0

    @property
    def topic_type(self) -> type[Any]:
        return CardTile

    def take(self, record: Any, raw: bytes, written_at: float) -> None:
        tile = Tile.of(record)
        state = self._tiles.get(record.card_token)
        if state is None:
            state = self._tiles[record.card_token] = CardState()
        if not state.put(tile):
            return
        self._changed[record.card_token] = max(written_at, self._changed.get(record.card_token, 0.0))

    def flush(self) -> list[str]:
        changed, self._changed = self._changed, {}
        for token, written_at in changed.items():
            state = self._tiles[token]
            newest = state.trim(self.config)
            computed_at = datetime.fromtimestamp(written_at, UTC)
            try:
                merged = features(token, state, self.config, computed_at, newest)
            except Exception:  # one card's tiles must never stop the follower
                self.merge_failures += 1
                log.exception("could not merge a card's tiles; its features stay as they were")
                continue
            # the merge is the card's record now, even when a tombstone took its newest tile away
            self.upsert(merged, replace=True)
        return list(changed)

    def forget(self, topic_key: str) -> None:
        token, _, tile = topic_key.partition("|")
        grain, _, start = tile.partition("|")
        state = self._tiles.get(token)
        if state is None or not grain.isdigit() or not start.isdigit():
            return
        state.tiles.pop((int(grain), int(start)), None)
        if state.tiles:
            held = self._records.get(token)
            self._changed[token] = max(self._changed.get(token, 0.0), held[1] if held else 0.0)
        else:
            self.remove(token)

    def remove(self, key: str) -> None:
        super().remove(key)
        self._tiles.pop(key, None)
        self._changed.pop(key, None)


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
    true once every partition reached the high watermark it had when the follower started (and what
    it read is merged), and stays true.

    The table finishes what it took (`flush`: the card table merges each changed card) once a
    consume() call comes back short, i.e. the follower read all the broker had, or after
    `merge_every_s` of reading full batches: a job batch's tiles of one card sit in several
    partitions, and merging after every consume() merged such a card once per batch it came in.

    Partitions are assigned directly (no group management, no commits): every scorer replica holds
    the whole table.
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
        merge_every_s: float = MERGE_EVERY_S,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.table = table
        self._consumer_factory = consumer_factory
        self._clock = clock
        self._poll_timeout_s = poll_timeout_s
        self._merge_every_s = merge_every_s
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

    def apply(self, value: bytes | None, key: bytes | None = None, written_at: float | None = None) -> None:
        """Apply one record value: newest wins; a tombstone removes the key; garbage is counted.

        The table finishes what the records changed on `flush`, which the follower calls once it
        read what the broker had, or every `merge_every_s` of a long read.
        """
        if value is None:
            if key:
                self.table.forget(key.decode("utf-8", "replace"))
            return
        try:
            record = from_kafka(self.table.topic_type, value)
        except (ValidationError, ValueError) as exc:
            self.malformed += 1
            if self.malformed <= 10 or self.malformed % 1000 == 0:
                log.warning(
                    "skipped malformed feature record",
                    extra={"count": self.malformed, "error": str(exc)[:200]},
                )
            return
        self.table.take(record, value, written_at if written_at is not None else self._clock())
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
            merged_at = time.monotonic()
            while not self._stop.is_set():
                messages = consumer.consume(CONSUME_BATCH, self._poll_timeout_s)
                for msg in messages:
                    p, err = msg.partition(), msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            self._positions[p] = msg.offset()
                            caught.add(p)
                        else:
                            self._warn(f"reading {self.topic} from {self.bootstrap} failed: {err}")
                        continue
                    self.apply(msg.value(), msg.key(), _written_at(msg))
                    self._positions[p] = msg.offset() + 1
                    if self._positions[p] >= self._targets[p]:
                        caught.add(p)
                if len(messages) < CONSUME_BATCH or time.monotonic() - merged_at >= self._merge_every_s:
                    self.table.flush()
                    merged_at = time.monotonic()
                    self._mark_ready(caught, partitions)  # ready: what was read is merged too
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


def _written_at(msg: Any) -> float | None:
    """A Kafka record's timestamp in epoch seconds (the producer's clock), if it has one."""
    kind, ms = msg.timestamp() if hasattr(msg, "timestamp") else (0, -1)
    return ms / 1000.0 if kind != 0 and ms >= 0 else None
