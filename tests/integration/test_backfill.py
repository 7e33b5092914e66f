"""Backfill: the Delta swipes tiled in Spark batch reach card-tiles, and a scorer's table merges them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from scoring.serving.online import OnlineFeatureTable
from streaming.backfill import publish_tiles, swipes_since, wait_in_delta
from streaming.card_state import CardState, FeatureConfig, features, fold
from streaming.features import good_swipes, parse_swipes
from streaming.schema import CardTile, Swipe, from_kafka, to_kafka
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually
from tests.integration._stream_support import T0, TopicReader, card, swipe

pytestmark = pytest.mark.integration

KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
CFG = FeatureConfig(horizons_s=(600, 3600, 86400))


def test_backfill_gives_a_new_replica_the_history_the_stream_will_not_fold_again(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    a, b = card(0x71), card(0x72)
    # Four hours of history, as the job's raw query wrote it to Delta.
    history: list[Swipe] = [swipe(f"h{i}", a if i % 3 else b, i * 10.0, amount=5.0 + i) for i in range(24)]
    raw = spark.createDataFrame(
        [(b"k", to_kafka(s), "swipes", 0, i, T0.replace(tzinfo=None)) for i, s in enumerate(history)],
        KAFKA_SCHEMA,
    )
    settings = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        topic_tiles=topic_factory("card-tiles", compacted=True),
        delta_root=str(tmp_path / "delta"),
    )
    good_swipes(parse_swipes(raw)).write.format("delta").save(settings.table("swipes"))

    report = publish_tiles(swipes_since(spark, settings, None), settings)
    assert (report.swipes, report.cards) == (24, 2)

    table = OnlineFeatureTable(CFG)
    reader = TopicReader(kafka_bootstrap, settings.topic_tiles)
    try:

        def all_tiles_read() -> None:
            assert len(reader.poll_all()) == report.tiles

        assert_eventually(all_tiles_read, timeout=30)
        for _, value in reader.messages:
            table.take(from_kafka(CardTile, value), value, 0.0)
    finally:
        reader.close()
    assert sorted(table.flush()) == sorted([a, b])
    for token in (a, b):
        own = [s for s in history if s.card_token == token]
        want = features(token, fold(CardState(), own, CFG), CFG, T0)
        got = table.get(token)
        assert got is not None
        assert got.model_dump(exclude={"computed_at"}) == want.model_dump(exclude={"computed_at"})
        assert got.profile.swipes == len(own)

    # No table yet: an error that says what to do, not Spark's trace.
    missing = settings.model_copy(update={"delta_root": str(tmp_path / "nothing")})
    with pytest.raises(ValueError, match=r"no Delta swipes table at .*fraudstream up"):
        swipes_since(spark, missing, None)

    # --days keeps the swipes from a point in event time on: the older ones are not tiled.
    since = T0 + timedelta(minutes=120)
    assert swipes_since(spark, settings, since).count() == 24 - 12


def test_waiting_for_a_swipe_in_delta_says_what_it_saw_and_returns_once_the_table_has_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    settings = StreamSettings(_env_file=None, delta_root=str(tmp_path / "delta"))  # type: ignore[call-arg]
    with pytest.raises(TimeoutError, match=r"polls; no Delta table there yet"):
        wait_in_delta(spark, settings, "w1", timeout_s=0.2, sleep=lambda _: None)
    raw = spark.createDataFrame(
        [(b"k", to_kafka(swipe("w0", card(0x73), 0.0)), "swipes", 0, 0, T0.replace(tzinfo=None))],
        KAFKA_SCHEMA,
    )
    good_swipes(parse_swipes(raw)).write.format("delta").save(settings.table("swipes"))
    with pytest.raises(TimeoutError, match=r"the table is at version 0"):
        wait_in_delta(spark, settings, "w1", timeout_s=0.2, sleep=lambda _: None)
    # the same session, which looked before the table existed, sees the swipe once it is there
    wait_in_delta(spark, settings, "w0", timeout_s=30)
