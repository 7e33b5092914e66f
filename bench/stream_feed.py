"""The stream bench's two Kafka ends: a paced swipe feed, and a watcher of the tiles topic.

The feed sends generated swipes stamped with the wall clock at send time (a live stream), each
with a fresh id. The watcher reads `card-tiles` into the scorer's own `OnlineFeatureTable`,
merging what it read as the scorer's follower does, and times each swipe from its
send to the first merge of its card whose `as_of` covers the swipe's event time: publish to the
scorer's table. `ChildFeed` sends from another process, so the sender and the watcher do not share
one interpreter.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from typing import Any

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bench.kafka import fresh_name
from services.generator.population import PopulationConfig, build_population
from services.generator.publish import producer_config
from services.generator.traffic import background
from streaming.card_state import FeatureConfig


def swipe_pool(
    token_key: bytes, *, cards: int = 20_000, size: int = 50_000, seed: int = 3
) -> list[dict[str, Any]]:
    """`size` generated swipes of `cards` cards, as JSON-ready dicts, in event-time order."""
    rng = np.random.default_rng(seed)
    pop = build_population(rng, token_key, PopulationConfig(cards=cards))
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return [s.model_dump(mode="json") for s in background(pop, start, rng, count=size)]


class SwipeFeed:
    """Sends the pool's swipes round and round at a given rate; remembers send times when asked."""

    def __init__(self, bootstrap: str, topic: str, pool: list[dict[str, Any]]) -> None:
        self.topic = topic
        self.pool = pool
        self.producer = Producer(producer_config(bootstrap))
        self.sent = 0
        self.track: SendLog | None = None
        self._run = fresh_name("sw")

    def send_one(self) -> None:
        swipe = dict(self.pool[self.sent % len(self.pool)])
        now = datetime.now(UTC)
        swipe["swipe_id"] = f"{self._run}-{self.sent}"
        swipe["event_time"] = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        token = swipe["card_token"]
        while True:
            try:
                self.producer.produce(self.topic, value=json.dumps(swipe, separators=(",", ":")), key=token)
                break
            except BufferError:
                self.producer.poll(0.05)
        if self.track is not None:
            self.track.sent(token, now.timestamp(), time.time())
        self.sent += 1
        if self.sent % 500 == 0:
            self.producer.poll(0)

    def catch_up(self, rate: float, since: float, already: int) -> None:
        """Send what `rate` swipes/s since `since` (perf_counter) owes, beyond the `already` sent then."""
        due = already + int(rate * (time.perf_counter() - since))
        while self.sent < due:
            self.send_one()

    def flush(self) -> None:
        self.producer.flush(30)


class SendLog:
    """Per card, the (event time, send time) of tracked swipes whose features have not been seen yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, deque[tuple[float, float]]] = defaultdict(deque)
        self.latencies_s: list[float] = []
        self.tracked = 0
        self.first_wall: float | None = None  # the send times of the first and last tracked swipe
        self.last_wall: float | None = None

    def sent(self, token: str, event_t: float, wall: float) -> None:
        with self._lock:
            self._pending[token].append((event_t, wall))
            self.tracked += 1
            if self.first_wall is None:
                self.first_wall = wall
            self.last_wall = wall

    @property
    def published_per_s(self) -> float:
        """The rate the sender achieved: tracked swipes over its send window, as the sender clocked it.

        Not the phase's length, which counts the child's start too. NaN under two swipes.
        """
        if self.first_wall is None or self.last_wall is None or self.last_wall <= self.first_wall:
            return math.nan
        return (self.tracked - 1) / (self.last_wall - self.first_wall)

    def covered(self, token: str, as_of: float, wall: float) -> None:
        """A feature record of `token` as of `as_of` became visible at `wall`."""
        with self._lock:
            queue = self._pending.get(token)
            while queue and queue[0][0] <= as_of:
                self.latencies_s.append(wall - queue.popleft()[1])

    @property
    def unseen(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._pending.values())


class FeatureWatcher(threading.Thread):
    """Reads the tiles topic from the beginning into an OnlineFeatureTable, as the scorer's follower.

    `log` may be swapped between phases (a new SendLog for each freshness rate): every merge reports
    to the log of the moment. `merges` and `merge_s` only grow; a phase takes their deltas.
    """

    def __init__(self, bootstrap: str, topic: str, log: SendLog, config: FeatureConfig) -> None:
        super().__init__(name="bench-feature-watcher", daemon=True)
        self.bootstrap, self.topic, self.log, self.config = bootstrap, topic, log, config
        self.records = 0
        self.merges = 0
        self.merge_s = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        from scoring.serving.online import CONSUME_BATCH, MERGE_EVERY_S, OnlineFeatureTable
        from streaming.schema import CardTile, from_kafka

        table = OnlineFeatureTable(self.config)
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": fresh_name("watch"),
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 100,  # as scoring.serving.online.FeatureFollower
            }
        )
        try:
            partitions = consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
            merged_at = time.monotonic()
            while not self._stop_event.is_set():
                messages = consumer.consume(CONSUME_BATCH, 0.1)
                for msg in messages:
                    value = msg.value()
                    if msg.error() is not None or value is None:
                        continue
                    table.take(from_kafka(CardTile, value), value, time.time())
                    self.records += 1
                # as the follower: merge once the read caught up, or every MERGE_EVERY_S of a long read
                if len(messages) == CONSUME_BATCH and time.monotonic() - merged_at < MERGE_EVERY_S:
                    continue
                merged_at = time.monotonic()
                started = time.perf_counter()
                merged = table.flush()
                self.merge_s += time.perf_counter() - started
                self.merges += len(merged)
                wall = time.time()
                for token in merged:
                    features = table.get(token)
                    if features is not None:
                        self.log.covered(token, features.as_of.timestamp(), wall)
        finally:
            consumer.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


def _send_paced(
    bootstrap: str, topic: str, pool: list[dict[str, Any]], first: int, rate: float, seconds: float, out: Any
) -> None:
    """The child's work: send at `rate` for `seconds`; report (token, event time, send time) in chunks."""
    feed = SwipeFeed(bootstrap, topic, pool)
    feed.sent = first
    log = _ChunkLog(out)
    feed.track = log  # type: ignore[assignment]
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        feed.catch_up(rate, start, first)
        log.push()
        time.sleep(0.002)
    feed.flush()
    log.push(force=True)
    out.send(None)


class _ChunkLog:
    def __init__(self, out: Any) -> None:
        self.out, self.at = out, time.perf_counter()
        self.items: list[tuple[str, float, float]] = []

    def sent(self, token: str, event_t: float, wall: float) -> None:
        self.items.append((token, event_t, wall))

    def push(self, force: bool = False) -> None:
        if self.items and (force or time.perf_counter() - self.at > 0.05):
            self.out.send(self.items)
            self.items, self.at = [], time.perf_counter()


class ChildFeed:
    """A paced feed in another process; what it sent reaches the SendLog through a pipe."""

    def __init__(self, feed: SwipeFeed, bootstrap: str, log: SendLog) -> None:
        self.feed, self.bootstrap, self.log = feed, bootstrap, log

    def run(self, rate: float, seconds: float, while_sending: Any) -> int:
        """Send `rate` swipes/s for `seconds` from a child; calls `while_sending()` meanwhile.

        Returns how many it sent; `feed.sent` moves on by as many, so the ids stay fresh.
        """
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        receive, send = ctx.Pipe(duplex=False)
        first = self.feed.sent
        child = ctx.Process(
            target=_send_paced,
            args=(self.bootstrap, self.feed.topic, self.feed.pool, first, rate, seconds, send),
            daemon=True,
        )
        child.start()
        send.close()
        sent = 0
        while True:
            while_sending()
            if not receive.poll(0.05):
                continue
            chunk = receive.recv()
            if chunk is None:
                break
            for token, event_t, wall in chunk:
                self.log.sent(token, event_t, wall)
            sent += len(chunk)
            self.feed.sent = first + sent
        child.join(30)
        return sent
