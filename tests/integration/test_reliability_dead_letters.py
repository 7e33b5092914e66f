"""10,000 malformed records among good swipes: each lands in Delta `dead_letters` naming its field.

The queries keep running, and every good swipe reaches Delta `swipes` and the card features.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from foundation.tables import TABLE_DEAD_LETTERS, TABLE_SWIPES
from streaming import job
from streaming.history import start_history
from streaming.schema import to_kafka
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually
from tests.integration._stream_support import TopicReader, card, merged_features, swipe

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

BAD = 10_000
GOOD = 1_000
CARDS = 40
MALFORMED = "malformed JSON"

Mutation = Callable[[dict[str, Any]], None]


def _set(field: str, value: object) -> Mutation:
    return lambda d: d.__setitem__(field, value)


def _drop(field: str) -> Mutation:
    return lambda d: d.pop(field)


# (what the error must name, how to break a valid swipe's JSON object)
BROKEN_FIELDS: list[tuple[str, Mutation]] = [
    # wrong types
    ("amount", _set("amount", "abc")),
    ("amount", _set("amount", True)),
    ("amount", _set("amount", {"value": 12})),
    ("lat", _set("lat", "north")),
    ("event_time", _set("event_time", "yesterday")),
    # missing fields
    *[
        (f, _drop(f))
        for f in (
            "swipe_id",
            "card_token",
            "amount",
            "currency",
            "merchant_id",
            "mcc",
            "country",
            "event_time",
        )
    ],
    # invalid values
    ("amount", _set("amount", 0)),
    ("amount", _set("amount", -3.5)),
    ("amount", _set("amount", 2_000_000)),
    ("currency", _set("currency", "eur")),
    ("mcc", _set("mcc", "54a1")),
    ("country", _set("country", "FRA")),
    ("lat", _set("lat", 91)),
    ("lon", _set("lon", -181)),
    ("channel", _set("channel", "mail")),
    ("card_token", _set("card_token", "ct_xyz")),
    ("swipe_id", _set("swipe_id", "")),
    ("swipe_id", _set("swipe_id", "x" * 65)),
    ("decision", _set("decision", "maybe")),
    ("event_time", _set("event_time", "2026-11-27T09:00:00")),
]

# Values that are not a JSON object at all, made unique by the record number.
NOT_OBJECTS: list[Callable[[int, bytes], bytes | None]] = [
    lambda i, _: f"{{not json {i}".encode(),
    lambda i, _: f"[1, {i}]".encode(),
    lambda i, _: f'"just a string {i}"'.encode(),
    lambda i, _: str(i).encode(),
    lambda i, _: b"\xff\xfe" + str(i).encode(),
    lambda i, good: b"[" + good + f", {i}]".encode(),  # a valid swipe, but inside an array
    lambda i, good: good[: len(good) // 2] + str(i).encode(),  # cut short
    lambda i, _: None,  # an empty Kafka value
]


def bad_records(good: Iterator[bytes]) -> Iterator[tuple[bytes | None, str]]:
    """(value, expected error prefix) for malformed JSON and for each broken field, in turn."""
    kinds: list[Callable[[int, bytes], tuple[bytes | None, str]]] = [
        *[lambda i, g, make=make: (make(i, g), MALFORMED) for make in NOT_OBJECTS],
        *[lambda i, g, f=field, m=mutate: (_broken(g, i, m), f"{f}:") for field, mutate in BROKEN_FIELDS],
    ]
    for i, kind in zip(itertools.count(), itertools.cycle(kinds)):
        yield kind(i, next(good))


def _broken(good: bytes, i: int, mutate: Mutation) -> bytes:
    record = json.loads(good)
    record["probe"] = i  # unknown fields are ignored (tolerant reader): it only makes the value unique
    mutate(record)
    return json.dumps(record).encode()


@pytest.fixture
def settings(kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path) -> StreamSettings:
    return StreamSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_tiles=topic_factory("card-tiles", compacted=True),
        topic_labels=topic_factory("labels"),
        topic_decisions=topic_factory("decisions"),
        delta_root=str(tmp_path / "delta"),
        checkpoint_root=str(tmp_path / "checkpoints"),
        horizons_s=[600, 3600],
        trigger_s=0.5,
        history_trigger_s=0.5,
        metrics_port=0,
    )


def test_malformed_records_go_to_dead_letters_and_good_ones_through(
    spark: SparkSession, settings: StreamSettings
) -> None:
    goods = [swipe(f"ok-{i:05d}", card(i % CARDS), i / 10) for i in range(GOOD)]
    templates = itertools.cycle([to_kafka(s) for s in goods])
    bads = list(itertools.islice(bad_records(templates), BAD))
    values = [v for v, _ in bads if v is not None]
    assert len(set(values)) == len(values), "each malformed value is unique, so each is found once"

    producer = Producer(
        {"bootstrap.servers": settings.bootstrap, "enable.idempotence": True, "linger.ms": 20}
    )
    per_good = BAD // GOOD
    for n, good in enumerate(goods):
        producer.produce(settings.topic_swipes, key=good.card_token.encode(), value=to_kafka(good))
        for value, _ in bads[n * per_good : (n + 1) * per_good]:
            producer.produce(settings.topic_swipes, key=b"junk", value=value)
        producer.poll(0)
    assert producer.flush(60) == 0

    # The history query (dead letters) and the tiles; the sessions query adds nothing here but CPU time.
    job.ensure_tables(spark, settings)
    reader = TopicReader(settings.bootstrap, settings.topic_tiles)
    queries = [start_history(spark, settings), job.start_tiles(spark, settings)]
    try:
        for q in queries:
            q.processAllAvailable()
        for q in queries:
            assert q.isActive and q.exception() is None, f"{q.name} died: {q.exception()}"
        # Still consuming after the flood: one more malformed record and one more good swipe.
        after = swipe("ok-after", card(0), GOOD / 10)
        goods.append(after)
        bads.append((b"{after", MALFORMED))
        producer.produce(settings.topic_swipes, key=b"junk", value=b"{after")
        producer.produce(settings.topic_swipes, key=after.card_token.encode(), value=to_kafka(after))
        assert producer.flush(30) == 0
        for q in queries:
            q.processAllAvailable()

        swipe_ids = [
            r.swipe_id for r in spark.read.format("delta").load(settings.table(TABLE_SWIPES)).collect()
        ]
        assert sorted(swipe_ids) == [s.swipe_id for s in goods], "every good swipe exactly once"

        dead = spark.read.format("delta").load(settings.table(TABLE_DEAD_LETTERS)).collect()
        got = Counter((None if r.value is None else bytes(r.value)) for r in dead)
        assert got == Counter(v for v, _ in bads), "each malformed record exactly once, bytes kept"
        expected = dict(bads)
        unnamed = []
        for r in dead:
            want = expected[None if r.value is None else bytes(r.value)]
            if not any(part.startswith(want) for part in (r.error or "").split("; ")):
                unnamed.append((want, r.error))
        assert not unnamed, f"{len(unnamed)} dead letters do not name their field, e.g. {unnamed[:5]}"

        # The tiles went on too: each card's merged features end with its last good swipe.
        last = {s.card_token: s.swipe_id for s in goods}

        def tiled_to_the_last_good_swipe() -> None:
            merged = merged_features(reader.poll_all(), settings.feature_config)
            assert {c: f.last_swipe_id for c, f in merged.items()} == last

        assert_eventually(tiled_to_the_last_good_swipe, timeout=60)

        for q in queries:
            assert q.isActive and q.exception() is None, f"{q.name} died: {q.exception()}"
    finally:
        job.stop(queries)
        reader.close()
