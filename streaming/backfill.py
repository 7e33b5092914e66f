"""Backfill: the card tiles of the Delta `swipes` table, computed in Spark batch and published to card-tiles.

The same aggregation as the streaming job's hot query (`streaming.tile_spark`), over history the
stream will not fold again: a new deployment, or history that lies behind the watermark (a
replay of last month). A scorer replica reading card-tiles then starts with full card history.

A tile's value on card-tiles is replaced by a newer one only when it holds more swipes or a newer
swipe (`scoring.serving.online.OnlineFeatureTable.take`), so a backfill run beside the live stream never
takes a tile back: the stream's open tiles win while they hold more.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from foundation.tables import TABLE_SWIPES
from streaming.settings import StreamSettings
from streaming.tile_spark import card_tiles_batch, tile_records


@dataclass(frozen=True)
class BackfillReport:
    swipes: int
    tiles: int
    cards: int
    topic: str


def swipes_since(spark: SparkSession, settings: StreamSettings, since: datetime | None) -> DataFrame:
    """The Delta `swipes` table (every valid swipe the job ever read), from `since` on if given."""
    from delta.tables import DeltaTable

    path = settings.table(TABLE_SWIPES)
    if not DeltaTable.isDeltaTable(spark, path):
        raise ValueError(
            f"no Delta swipes table at {path}: start the feature job first (`fraudstream up`), "
            "or set FRAUDSTREAM_DELTA_ROOT to where it writes"
        )
    swipes = spark.read.format("delta").load(path)
    return swipes if since is None else swipes.where(F.col("event_time") >= F.lit(since))


def publish_tiles(swipes: DataFrame, settings: StreamSettings) -> BackfillReport:
    """Tile `swipes` in one batch job and write every tile to the card-tiles topic."""
    tiles = card_tiles_batch(swipes).persist()
    try:
        counts = tiles.agg(F.count("*").alias("tiles"), F.countDistinct("card_token").alias("cards")).first()
        (
            tile_records(tiles)
            .write.format("kafka")
            .option("kafka.bootstrap.servers", settings.bootstrap)
            .option("topic", settings.topic_tiles)
            .save()
        )
    finally:
        tiles.unpersist()
    return BackfillReport(
        swipes=swipes.count(),
        tiles=int(counts["tiles"]) if counts else 0,
        cards=int(counts["cards"]) if counts else 0,
        topic=settings.topic_tiles,
    )


def wait_in_delta(
    spark: SparkSession,
    settings: StreamSettings,
    swipe_id: str,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Wait until the history query has written `swipe_id` to Delta `swipes` (it runs every
    FRAUDSTREAM_HISTORY_TRIGGER_S); raise TimeoutError saying where to look if it does not."""
    deadline = clock() + timeout_s
    polls = 0
    while True:
        polls += 1
        # A session that read the table before keeps its Delta log cached, and a long-lived one was
        # seen to miss a swipe another driver had committed minutes before (a fresh reader saw it):
        # each poll reads the log afresh.
        jvm = spark.sparkContext._jvm
        if jvm is not None:
            jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
        try:
            if not swipes_since(spark, settings, None).where(F.col("swipe_id") == swipe_id).isEmpty():
                return
        except ValueError:  # no table yet: the job has not started its queries
            pass
        if clock() > deadline:
            path = settings.table(TABLE_SWIPES)
            raise TimeoutError(
                f"swipe {swipe_id!r} did not reach Delta swipes at {path} within {timeout_s:.0f}s "
                f"({polls} polls; {_table_state(spark, path)}); check `fraudstream status` and the "
                "feature job's log (its history query, in the history driver)"
            )
        sleep(2.0)


def _table_state(spark: SparkSession, path: str) -> str:
    """What a reader sees of the table at `path`, for an error message."""
    from delta.tables import DeltaTable

    try:
        last = DeltaTable.forPath(spark, path).history(1).select("version", "timestamp").first()
    except Exception:  # any failure here means the same to the reader: no table
        return "no Delta table there yet"
    if last is None:
        return "the table has no commit"
    return f"the table is at version {last['version']}, committed {last['timestamp']}"


def backfill_cards(
    spark: SparkSession, settings: StreamSettings, card_tokens: list[str], after: str, timeout_s: float
) -> BackfillReport:
    """The tiles of these cards' swipes in Delta, once the swipe `after` (published last) is there."""
    wait_in_delta(spark, settings, after, timeout_s)
    swipes = swipes_since(spark, settings, None).where(F.col("card_token").isin(card_tokens))
    return publish_tiles(swipes, settings)
