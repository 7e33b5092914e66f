"""The online tables (tiles merged per card, newest record wins, compact) and the follower."""

from __future__ import annotations

import gc
import threading
import tracemalloc
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError

from scoring.serving.online import FeatureFollower, OnlineFeatureTable
from streaming.card_state import CardState, FeatureConfig, features, fold
from streaming.schema import Swipe, to_kafka
from tests.eventually import assert_eventually
from tests.unit.scoring.builders import T0, TOKEN, card_features, card_swipes, tile_messages

OTHER = "ct_" + "cd" * 16


def test_newest_record_by_as_of_wins_and_replays_do_no_harm() -> None:
    table = OnlineFeatureTable()
    newer, older = card_features(as_of_s=60), card_features(as_of_s=0)
    assert table.upsert(newer)
    assert not table.upsert(older)  # an older record (a replay) is ignored
    assert table.upsert(newer)  # a duplicate is harmless
    assert table.get(TOKEN) == newer
    assert table.get(OTHER) is None
    assert len(table) == 1
    table.remove(TOKEN)
    assert table.get(TOKEN) is None


def test_tiles_are_merged_once_per_read_batch_into_the_features_training_computes() -> None:
    cfg = FeatureConfig(horizons_s=(600, 3600))
    table = OnlineFeatureTable(cfg)
    follower = FeatureFollower("127.0.0.1:1", "card-tiles", table)
    for key, value in tile_messages(TOKEN, [0, 30, 400]):
        follower.apply(value, key, written_at=T0.timestamp() + 500)
    assert table.get(TOKEN) is None  # not merged until the batch is done
    assert table.flush() == [TOKEN]
    want = features(TOKEN, fold(CardState(), card_swipes(TOKEN, [0, 30, 400]), cfg), cfg, T0)
    got = table.get(TOKEN)
    assert got is not None
    assert got.model_dump(exclude={"computed_at"}) == want.model_dump(exclude={"computed_at"})
    assert got.computed_at.timestamp() == T0.timestamp() + 500  # when the job wrote the newest tile


def test_an_older_value_of_a_tile_never_replaces_a_newer_one() -> None:
    table = OnlineFeatureTable()
    (newer,) = tile_messages(TOKEN, [0, 10, 20], grains=(60,))
    (older,) = tile_messages(TOKEN, [0, 10], grains=(60,))
    table.take(*_parsed(newer), written_at=1.0)
    table.take(*_parsed(older), written_at=2.0)
    table.flush()
    assert table.get(TOKEN).windows[0].count == 3  # type: ignore[union-attr]


def _parsed(pair: tuple[bytes, bytes]) -> tuple[Any, bytes]:
    from streaming.schema import CardTile, from_kafka

    return from_kafka(CardTile, pair[1]), pair[1]


def test_a_tombstone_removes_its_tile_and_garbage_is_counted() -> None:
    table = OnlineFeatureTable()
    follower = FeatureFollower("127.0.0.1:1", "card-tiles", table)
    (first,), (second,) = tile_messages(TOKEN, [0], grains=(60,)), tile_messages(TOKEN, [120], grains=(60,))
    for key, value in (first, second):
        follower.apply(value, key)
    follower.apply(b'{"card_token": "ct_x"}', b"ct_x|60|0")
    table.flush()
    assert table.get(TOKEN).last_swipe_id == card_swipes(TOKEN, [120])[0].swipe_id  # type: ignore[union-attr]
    follower.apply(None, second[0])
    table.flush()
    assert table.get(TOKEN).as_of == T0  # type: ignore[union-attr]
    follower.apply(None, first[0])
    assert table.get(TOKEN) is None
    assert (follower.applied, follower.malformed) == (2, 1)


def full_profile_record(token: str) -> bytes:
    """A card with a full profile: 16 countries, 32 merchants, 16 MCCs (the fold's limits)."""
    countries = [f"{chr(65 + i)}{chr(65 + i)}" for i in range(20)]
    swipes = [
        Swipe(
            swipe_id=f"sw-{i:08d}",
            card_token=token,
            amount=10.0 + i,
            currency="EUR",
            merchant_id=f"m-{i:05d}",
            mcc=f"{5000 + i % 20}",
            country=countries[i % 20],
            lat=48.0,
            lon=2.0,
            event_time=T0 + timedelta(minutes=i),
        )
        for i in range(60)
    ]
    cfg = FeatureConfig()
    return to_kafka(features(token, fold(CardState(), swipes, cfg), cfg, computed_at=T0))


def test_a_card_costs_under_a_kilobyte() -> None:
    records = [full_profile_record(f"ct_{i:032x}") for i in range(200)]
    from streaming.schema import CardFeatures, from_kafka

    parsed = [from_kafka(CardFeatures, r) for r in records]
    table = OnlineFeatureTable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for record in parsed:
            table.upsert(record)
        # A full collection empties the interpreter's free lists (tuples the plain form's dump made and
        # dropped stay traced there): what is left is what the table holds.
        gc.collect()
        per_card = (tracemalloc.get_traced_memory()[0] - before) / len(records)
    finally:
        tracemalloc.stop()
    print(f"bytes per card: {per_card:.0f}")
    assert per_card < 1024, per_card
    assert table.get(parsed[7].card_token) == parsed[7]


class ScriptedConsumer:
    """Two partitions; hands out at most `allowed` records in total, then partition EOFs."""

    def __init__(self, logs: dict[int, list[bytes | None]]) -> None:
        self.logs = logs
        self.next = dict.fromkeys(logs, 0)
        self.eof_sent: set[int] = set()
        self.allowed = 0
        self.delivered = 0
        self.assigned: list[Any] = []
        self.closed = False

    def list_topics(self, topic: str, timeout: float) -> Any:
        meta = SimpleNamespace(error=None, partitions=dict.fromkeys(self.logs))
        return SimpleNamespace(topics={topic: meta})

    def get_watermark_offsets(
        self, tp: Any, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        return 0, len(self.logs[tp.partition])

    def assign(self, tps: list[Any]) -> None:
        self.assigned = tps

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        out: list[Any] = []
        for p, log in self.logs.items():
            while self.next[p] < len(log) and self.delivered < self.allowed:
                off = self.next[p]
                out.append(_msg(p, off, log[off]))
                self.next[p] += 1
                self.delivered += 1
                self.eof_sent.discard(p)
            if self.next[p] == len(log) and p not in self.eof_sent:
                out.append(_msg(p, len(log), None, eof=True))
                self.eof_sent.add(p)
        if not out:
            threading.Event().wait(0.01)
        return out

    def close(self) -> None:
        self.closed = True


def _msg(p: int, offset: int, value: bytes | None, eof: bool = False) -> Any:
    err = SimpleNamespace(code=lambda: KafkaError._PARTITION_EOF) if eof else None
    return SimpleNamespace(
        partition=lambda: p, offset=lambda: offset, value=lambda: value, key=lambda: None, error=lambda: err
    )


def test_follower_is_ready_only_after_the_start_offsets_and_then_follows() -> None:
    ((_, a),), ((_, b),) = tile_messages(TOKEN, [0], grains=(60,)), tile_messages(OTHER, [10], grains=(60,))
    ((_, a_later),) = tile_messages(TOKEN, [0, 5], grains=(60,))
    consumer = ScriptedConsumer({0: [a, b"{not json", a_later], 1: [b]})
    made: list[dict[str, Any]] = []

    def factory(config: dict[str, Any]) -> ScriptedConsumer:
        made.append(config)
        return consumer

    table = OnlineFeatureTable()
    follower = FeatureFollower(
        "127.0.0.1:1", "features", table, consumer_factory=factory, poll_timeout_s=0.01
    )
    assert made == []  # nothing touches Kafka before start()
    follower.start()
    try:
        consumer.allowed = 2
        assert_eventually(
            lambda: _check(follower.applied == 1 and follower.malformed == 1), timeout=5, interval=0.01
        )
        assert not follower.ready
        consumer.allowed = 4
        assert follower.wait_ready(5)
        assert follower.malformed == 1  # skipped and counted; the thread lives on
        assert table.get(TOKEN).as_of == T0 + timedelta(seconds=5)  # type: ignore[union-attr]
        assert follower.lag == 0
        # after catching up it keeps following
        consumer.logs[1].append(tile_messages(OTHER, [10, 99], grains=(60,))[-1][1])
        consumer.allowed = 5
        assert_eventually(
            lambda: _check(table.get(OTHER).as_of == T0 + timedelta(seconds=99)),  # type: ignore[union-attr]
            timeout=5,
            interval=0.01,
        )
        assert follower.last_update is not None
    finally:
        follower.stop()
    assert consumer.closed
    assert made[0]["enable.auto.commit"] is False
    assert all(tp.offset == -2 for tp in consumer.assigned)  # OFFSET_BEGINNING


def _check(condition: bool) -> None:
    assert condition


class FullBatches:
    """A consumer whose consume() hands out full CONSUME_BATCH batches of one card's tile, then short ones."""

    def __init__(self, value: bytes, full: int) -> None:
        self.value, self.full, self.calls = value, full, 0

    def list_topics(self, topic: str, timeout: float) -> Any:
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions={0: None})})

    def get_watermark_offsets(
        self, tp: Any, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        return 0, 10**9

    def assign(self, tps: list[Any]) -> None:
        pass

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        self.calls += 1
        if self.calls > self.full + 1:
            threading.Event().wait(0.01)
            return []
        count = num_messages if self.calls <= self.full else 1
        return [_msg(0, 0, self.value) for _ in range(count)]

    def close(self) -> None:
        pass


class CountingTable(OnlineFeatureTable):
    def __init__(self) -> None:
        super().__init__()
        self.flushes: list[int] = []  # records applied at each flush that merged something
        self.applied_by_now = 0

    def flush(self) -> list[str]:
        merged = super().flush()
        if merged:
            self.flushes.append(self.applied_by_now)
        return merged


# consume():  500  500  500  1  (nothing)...
#   merge_every_s large: one merge, after the short batch          -> merged once, all 1,501 read
#   merge_every_s 0:     a merge after every batch, as before       -> merged after 500, 1000, 1500, 1501
@pytest.mark.parametrize(("merge_every_s", "merged_at"), [(60.0, [1501]), (0.0, [500, 1000, 1500, 1501])])
def test_the_follower_merges_once_it_read_what_the_broker_had(
    merge_every_s: float, merged_at: list[int]
) -> None:
    ((_, value),) = tile_messages(TOKEN, [0], grains=(60,))
    table = CountingTable()
    follower = FeatureFollower(
        "127.0.0.1:1",
        "card-tiles",
        table,
        consumer_factory=lambda config: FullBatches(value, full=3),
        poll_timeout_s=0.01,
        merge_every_s=merge_every_s,
    )
    original = follower.apply

    def apply(value: bytes | None, key: bytes | None = None, written_at: float | None = None) -> None:
        original(value, key, written_at)
        table.applied_by_now = follower.applied

    follower.apply = apply  # type: ignore[method-assign]
    follower.start()
    try:
        assert_eventually(
            lambda: _check(follower.applied == 1501 and bool(table.flushes)), timeout=5, interval=0.01
        )
        threading.Event().wait(0.05)
    finally:
        follower.stop()
    assert table.flushes == merged_at
    assert table.get(TOKEN) is not None
