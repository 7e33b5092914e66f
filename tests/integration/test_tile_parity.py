"""One tile definition, three runtimes: pure Python, Spark batch and Spark streaming agree tile by tile."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from streaming.features import good_swipes, parse_swipes
from streaming.schema import CardTile, Swipe, to_kafka
from streaming.tile_spark import card_tiles_batch, card_tiles_jvm, card_tiles_stream, tile_records
from streaming.tiles import Tile, TileKey, tiles_of
from tests.integration._stream_support import T0, card, newest, swipe, tile_of_row

pytestmark = pytest.mark.integration

KAFKA_SCHEMA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
PLACES = [(48.857, 2.352), (45.764, 4.836), (-33.869, 151.209), (-17.8, 179.9), None]


def history(seed: int, cards: int = 6, per_card: int = 40) -> list[Swipe]:
    """Swipes over three days: bursts inside one minute, hours apart, online and located, denied."""
    rng = random.Random(seed)
    out = []
    for c in range(cards):
        minutes = 0.0
        for i in range(per_card):
            minutes += rng.choice([0.01, 0.5, 7, 45, 300])
            where = rng.choice(PLACES)
            out.append(
                swipe(
                    f"sw-{c}-{i}",
                    card(c + 1),
                    minutes,
                    amount=round(rng.lognormvariate(3, 1), 2),
                    merchant=f"m-{rng.randrange(5)}",
                    country=rng.choice(["FR", "DE", "AU"]),
                    lat=where[0] if where else None,
                    lon=where[1] if where else None,
                    channel="pos" if where else "ecom",
                    decision=rng.choice([None, "approve", "deny"]),
                )
            )
    rng.shuffle(out)
    return out


def python_tiles(swipes: list[Swipe]) -> dict[tuple[str, int, int], Tile]:
    by_card: dict[str, list[Swipe]] = {}
    for s in swipes:
        by_card.setdefault(s.card_token, []).append(s)
    out: dict[tuple[str, int, int], Tile] = {}
    for token, own in by_card.items():
        tiles: dict[TileKey, Tile] = tiles_of(own)
        out.update({(token, g, start): t for (g, start), t in tiles.items()})
    return out


def spark_tiles(frame: DataFrame) -> dict[tuple[str, int, int], Tile]:
    return {(r.card_token, r.grain_s, r.start_s): Tile.of(r) for r in map(tile_of_row, frame.collect())}


def comparable(tile: Tile) -> dict[str, Any]:
    """Integers and sets exactly; float sums to 1e-9 (Spark adds in another order)."""
    fields = {n: getattr(tile, n) for n in Tile.__slots__}
    return {
        k: pytest.approx(v, rel=1e-9, abs=1e-12) if isinstance(v, float) else v for k, v in fields.items()
    }


def assert_same(got: dict[tuple[str, int, int], Tile], want: dict[tuple[str, int, int], Tile]) -> None:
    assert sorted(got) == sorted(want)
    for key in want:
        assert comparable(got[key]) == comparable(want[key]), key


def as_frame(spark: SparkSession, swipes: list[Swipe]) -> DataFrame:
    raw = spark.createDataFrame(
        [(b"k", to_kafka(s), "swipes", 0, i, T0.replace(tzinfo=None)) for i, s in enumerate(swipes)],
        KAFKA_SCHEMA,
    )
    return good_swipes(parse_swipes(raw))


@pytest.mark.parametrize("seed", [1, 2])
def test_spark_batch_tiles_equal_the_python_tiles(spark: SparkSession, seed: int) -> None:
    swipes = history(seed)
    assert_same(spark_tiles(card_tiles_batch(as_frame(spark, swipes))), python_tiles(swipes))


@pytest.mark.parametrize("fold", [card_tiles_jvm, card_tiles_stream], ids=["jvm", "sql"])
def test_streaming_tiles_equal_the_python_tiles_whatever_the_batches(
    spark: SparkSession, tmp_path: Path, fold: Callable[[DataFrame, int], DataFrame]
) -> None:
    swipes = sorted(history(3, cards=4, per_card=30), key=lambda s: s.event_time)
    source = tmp_path / "in"
    source.mkdir()
    name = f"tiles_{uuid.uuid4().hex[:8]}"
    parsed_schema = as_frame(spark, swipes[:1]).schema
    stream = spark.readStream.schema(parsed_schema).parquet(str(source))
    query = (
        fold(stream, 7 * 86400)
        .writeStream.format("memory")
        .queryName(name)
        .outputMode("update")
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .start()
    )
    try:
        for chunk in [swipes[:25], swipes[25:70], swipes[70:]]:
            as_frame(spark, chunk).write.mode("append").parquet(str(source))
            query.processAllAvailable()
        # the newest value of each tile is the one a consumer keeps (a later batch re-emits it whole)
        rows = spark.sql(f"select * from {name}").collect()
    finally:
        query.stop()
    latest = newest(map(tile_of_row, rows)).values()
    assert_same({(r.card_token, r.grain_s, r.start_s): Tile.of(r) for r in latest}, python_tiles(swipes))


def test_tile_records_parse_back_to_the_same_tiles(spark: SparkSession) -> None:
    swipes = history(4, cards=2, per_card=10)
    values = tile_records(card_tiles_batch(as_frame(spark, swipes))).collect()
    parsed = {}
    for row in values:
        record = CardTile.model_validate_json(row["value"])
        assert row["key"] == record.key
        parsed[(record.card_token, record.grain_s, record.start_s)] = Tile.of(record)
    assert_same(parsed, python_tiles(swipes))


def test_a_burst_inside_one_minute_is_one_minute_tile(spark: SparkSession) -> None:
    a = card(0xA)
    swipes = [swipe(f"s{i}", a, 0.1 * i, amount=5.0 * (i + 1)) for i in range(5)]
    tiles = spark_tiles(card_tiles_batch(as_frame(spark, swipes)))
    minute = tiles[(a, 60, int(T0.timestamp()))]
    assert (minute.count, minute.amount_sum, minute.amount_max) == (5, 75.0, 25.0)
    assert minute.last is not None and minute.last[1] == "s4"
    assert minute.first_us == int(T0.timestamp()) * 1_000_000
    assert sorted(g for (_, g, _) in tiles) == [60, 3600, 86400]
