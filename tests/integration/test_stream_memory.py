"""The streaming definitions through a memory sink, reading a real Kafka topic micro-batch by micro-batch."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from streaming.features import dead_letters, good_swipes, parse_swipes
from streaming.job import read_swipes
from streaming.job_metrics import late_rows
from streaming.settings import StreamSettings
from streaming.tile_spark import card_tiles_jvm, card_tiles_stream
from streaming.tiles import Tile, tiles_of
from tests.eventually import assert_eventually
from tests.integration._stream_support import T0, card, newest, produce, swipe, tile_of_row

pytestmark = pytest.mark.integration

A, B, C = card(0xA), card(0xB), card(0xC)


def settings_for(bootstrap: str, topic: str, **kw: Any) -> StreamSettings:
    return StreamSettings(kafka_bootstrap=bootstrap, topic_swipes=topic, **kw)


def newest_tiles(rows: list[Any]) -> dict[tuple[str, int, int], Tile]:
    """The newest value of each tile among a memory sink's rows: what a consumer of card-tiles keeps."""
    return {(r.card_token, r.grain_s, r.start_s): Tile.of(r) for r in newest(map(tile_of_row, rows)).values()}


def late_rows_of(progress: list[Any]) -> int:
    return sum(late_rows(p) for p in progress)


@pytest.mark.parametrize("engine", ["jvm", "sql"])
def test_stream_tiles_each_card_across_micro_batches_and_closes_tiles_by_the_watermark(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path, engine: str
) -> None:
    topic = topic_factory("swipes", partitions=1)
    first = [
        swipe("s1", A, 0, 10.0),
        swipe("s5", B, 3, 99.0),
        swipe("s2", A, 4, 20.0),
        swipe("s3", A, 9, 30.0),
        swipe("s4", A, 25, 5.0),
    ]
    produce(kafka_bootstrap, topic, first)
    # Two offsets per trigger: [s1 s5] [s2 s3] [s4], so card A's tiles must carry over batches.
    settings = settings_for(kafka_bootstrap, topic, max_offsets_per_trigger=2)
    swipes = good_swipes(parse_swipes(read_swipes(spark, settings)))
    name = f"tiles_{uuid.uuid4().hex[:8]}"
    fold = card_tiles_jvm if engine == "jvm" else card_tiles_stream
    query = (
        fold(swipes, 60)
        .writeStream.queryName(name)
        .format("memory")
        .outputMode("update")
        .option("checkpointLocation", str(tmp_path / "ckpt"))
        .start()
    )
    try:
        query.processAllAvailable()
        streamed = newest_tiles(spark.table(name).collect())
        want: dict[tuple[str, int, int], Tile] = {}
        for token in (A, B):
            own = [s for s in first if s.card_token == token]
            want.update({(token, g, start): t for (g, start), t in tiles_of(own).items()})
        assert sorted(streamed) == sorted(want)
        assert all(streamed[k].count == want[k].count and streamed[k].last == want[k].last for k in want)

        # C at 120 min moves the watermark to 119 min once its batch is done (s7, in the same batch,
        # is not late yet): every minute and hour tile of A and B ended more than a minute before
        # and leaves the state; their day tiles stay open. s8 at 30.5 min is then late for its
        # minute and hour tiles (dropped), not for its day.
        produce(kafka_bootstrap, topic, [swipe("s6", C, 120), swipe("s7", A, 30)])
        query.processAllAvailable()
        produce(kafka_bootstrap, topic, [swipe("s8", A, 30.5)])
        query.processAllAvailable()

        def closed_and_late_dropped() -> None:
            progress = [json.loads(p.json) for p in query.recentProgress if p["stateOperators"]]
            # sql keeps a row per tile: A's and B's day tiles, C's minute, hour and day tiles; jvm
            # one per card with open tiles: A, B, C
            assert progress[-1]["stateOperators"][0]["numRowsTotal"] == (5 if engine == "sql" else 3)
            assert late_rows_of(progress) == 2  # s8's minute and hour tiles

        assert_eventually(closed_and_late_dropped, timeout=30)
        tiles = newest_tiles(spark.table(name).collect())
        day = int(T0.timestamp()) // 86400 * 86400
        assert tiles[(A, 86400, day)].count == 6
        assert tiles[(A, 86400, day)].last[1] == "s8"  # type: ignore[index]
        assert tiles[(A, 60, int(T0.timestamp()) + 30 * 60)].count == 1  # s7's, never s8's
        assert tiles[(C, 60, int(T0.timestamp()) + 120 * 60)].count == 1

        # C the next day at 01:00 puts the watermark past midnight: every tile of the first day is
        # final and leaves the state (jvm: A's and B's cards hold nothing, their timers fired).
        produce(kafka_bootstrap, topic, [swipe("s9", C, 16 * 60)])
        query.processAllAvailable()

        def first_day_evicted() -> None:
            last = json.loads(query.lastProgress.json) if query.lastProgress else {}
            assert last["stateOperators"][0]["numRowsTotal"] == (3 if engine == "sql" else 1)

        assert_eventually(first_day_evicted, timeout=30)
    finally:
        query.stop()


def test_malformed_records_become_dead_letters_and_the_stream_goes_on(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    topic = topic_factory("swipes")
    good = swipe("g1", A, 0).model_dump(mode="json")
    wrong_type = {**good, "swipe_id": "bad-type", "amount": "lots"}
    missing = {k: v for k, v in good.items() if k != "card_token"}
    produce(
        kafka_bootstrap,
        topic,
        [
            swipe("g1", A, 0),
            b'{"swipe_id": "broken",',
            json.dumps(wrong_type).encode(),
            json.dumps(missing).encode(),
            swipe("g2", B, 1),
        ],
    )
    parsed = parse_swipes(read_swipes(spark, settings_for(kafka_bootstrap, topic)))
    dead_name, feat_name = f"dead_{uuid.uuid4().hex[:8]}", f"feat_{uuid.uuid4().hex[:8]}"
    dead_q = (
        dead_letters(parsed)
        .writeStream.queryName(dead_name)
        .format("memory")
        .option("checkpointLocation", str(tmp_path / "dead"))
        .start()
    )
    feat_q = (
        card_tiles_stream(good_swipes(parsed), watermark_s=60)
        .writeStream.queryName(feat_name)
        .format("memory")
        .outputMode("update")
        .option("checkpointLocation", str(tmp_path / "feat"))
        .start()
    )
    try:
        dead_q.processAllAvailable()
        feat_q.processAllAvailable()
        reasons = sorted(r.error for r in spark.table(dead_name).collect())
        assert reasons == [
            "amount: wrong type, expected double",
            "card_token: missing required field",
            "malformed JSON: the value is not a JSON object",
        ]
        assert sorted({r.card_token for r in spark.table(feat_name).collect()}) == [A, B]
        assert dead_q.isActive and feat_q.isActive
    finally:
        dead_q.stop()
        feat_q.stop()
