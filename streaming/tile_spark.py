"""The card tiles in Spark, streaming and batch, from `streaming.tiles.MEASURES`.

    inputs          good swipes -> the measures' input columns (the twin of `tiles.swipe_inputs`)
    card_tiles_*    one row per (card, grain, tile start) with every measure:
                      _batch, _stream   Spark's built-in aggregates (count, sum, max, min, max of
                                        a struct, collect_set): code Spark generates
                      _jvm              the Java TileProcessor of streaming/jvm under
                                        transformWithState, reading MEASURES as a spec
    tile_records    tiles -> the Kafka key `<card>|<grain>|<start>` and the CardTile JSON value

No Python runs per row or per card on any of them. Streaming drops a tile's state once the
watermark passes the tile's end, and the tile is final.
No readStream/writeStream here: `streaming.job` does the I/O.
"""

from __future__ import annotations

from py4j.java_gateway import JavaClass
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from foundation.geometry import PLACE_CELL_DEG
from streaming.schema import CardTile
from streaming.tiles import GRAINS_S, LAST_FIELDS, LATE_ROWS_METRIC, MEASURES, Measure

_US = 1_000_000
# EventTimeWatermark.delayKey: the metadata Spark reads to find the grouping key to evict state by
WATERMARK_DELAY_KEY = "spark.watermarkDelayMs"
TILE_COLUMNS = list(CardTile.model_fields)


def input_columns() -> dict[str, Column]:
    """Each measure input as a Column over Swipe columns, named as `tiles.swipe_inputs` names it."""
    located = F.col("lat").isNotNull() & F.col("lon").isNotNull()
    lat, lon = F.radians("lat"), F.radians("lon")
    log_amount = F.log1p("amount")
    t_us = F.unix_micros("event_time")

    def when_located(value: Column) -> Column:
        return F.when(located, value).otherwise(F.lit(0.0))

    place = F.when(
        located,
        F.concat(
            F.floor(F.col("lat") / PLACE_CELL_DEG).cast("string"),
            F.lit(":"),
            F.floor(F.col("lon") / PLACE_CELL_DEG).cast("string"),
        ),
    )
    return {
        "one": F.lit(1),
        "amount": F.col("amount"),
        "log_amount": log_amount,
        "log_amount_sq": log_amount * log_amount,
        "is_denied": F.coalesce((F.col("decision") == "deny").cast("long"), F.lit(0)),
        "is_ecom": (F.col("channel") == "ecom").cast("long"),
        "is_located": located.cast("long"),
        "unit_x": when_located(F.cos(lat) * F.cos(lon)),
        "unit_y": when_located(F.cos(lat) * F.sin(lon)),
        "unit_z": when_located(F.sin(lat)),
        "event_us": t_us,
        "last": F.struct(
            *(
                c.alias(n)
                for c, n in zip(
                    [t_us, F.col("swipe_id"), F.col("country"), F.col("lat"), F.col("lon")],
                    LAST_FIELDS,
                    strict=True,
                )
            )
        ),
        "seen": F.struct(
            F.col("merchant_id").alias("merchant_id"),
            F.col("country").alias("country"),
            F.col("mcc").alias("mcc"),
            place.alias("place"),
        ),
    }


def _aggregate(m: Measure) -> Column:
    source = F.col(m.source)
    if m.kind == "count":
        return F.count(F.lit(1)).alias(m.name)
    if m.kind == "sum":
        return F.sum(source).alias(m.name)
    if m.kind == "max":
        return F.max(source).alias(m.name)
    if m.kind == "min":
        return F.min(source).alias(m.name)
    if m.kind == "last":
        return F.max(source).alias(m.name)  # structs compare field by field: (time, swipe id, ...)
    return F.collect_set(source).alias(m.name)


def _tile_rows(swipes: DataFrame) -> DataFrame:
    """Each swipe once per grain, with its tile's grain, start and end, and the measure inputs."""
    columns = input_columns()
    with_inputs = swipes.select("card_token", *(c.alias(n) for n, c in columns.items()))
    seconds = (F.col("event_us") / F.lit(_US)).cast("long")
    grains = F.explode(
        F.array(
            *(F.struct(F.lit(g).alias("grain_s"), (seconds - seconds % g).alias("start_s")) for g in GRAINS_S)
        )
    )
    return (
        with_inputs.select("*", grains.alias("tile"))
        .select("*", "tile.grain_s", "tile.start_s")
        .drop("tile")
        .withColumn("tile_end", F.timestamp_seconds(F.col("start_s") + F.col("grain_s")))
    )


def _as_records(aggregated: DataFrame) -> DataFrame:
    """Aggregated tiles in CardTile's column order (the newest swipe's struct spread out), plus tile_end."""

    def column(name: str) -> Column:
        return F.col("last").getField(name).alias(name) if name in LAST_FIELDS else F.col(name)

    return aggregated.select(*(column(n) for n in TILE_COLUMNS), "tile_end")


def card_tiles_batch(swipes: DataFrame) -> DataFrame:
    """Every tile of a static DataFrame of swipes (Delta `swipes`, a file): backfill and parity."""
    aggregated = (
        _tile_rows(swipes)
        .groupBy("card_token", "grain_s", "start_s", "tile_end")
        .agg(*(_aggregate(m) for m in MEASURES))
    )
    return _as_records(aggregated)


def card_tiles_stream(swipes: DataFrame, watermark_s: int) -> DataFrame:
    """The tiles a micro-batch changed (update mode), each with its every measure so far.

    The watermark is the newest event time less `watermark_s`. A tile is final, and leaves the
    state, once the watermark passes its end; a swipe whose tile already ended that long ago is
    dropped for that tile (Spark counts it in numRowsDroppedByWatermark), while its coarser tiles,
    still open, take it. The watermark cannot sit on `tile_end` itself: its maximum is the end of
    the current day tile, which would put every minute and hour tile of the day behind it. So it
    sits on `event_time`, and `tile_end` carries the watermark's delay in its metadata, which is
    how Spark finds the grouping key to evict by (as it does for a `window()` column).
    """
    rows = _tile_rows(swipes.withWatermark("event_time", f"{watermark_s} seconds"))
    evict_by = F.col("tile_end").alias("tile_end", metadata={WATERMARK_DELAY_KEY: watermark_s * 1000})
    aggregated = (
        rows.withColumn("tile_end", evict_by)
        .groupBy("card_token", "grain_s", "start_s", "tile_end")
        .agg(*(_aggregate(m) for m in MEASURES))
    )
    return _as_records(aggregated)


def measure_spec() -> str:
    """MEASURES as the JVM processor reads them: `name:kind:source`, comma-separated."""
    return ",".join(f"{m.name}:{m.kind}:{m.source}" for m in MEASURES)


def card_tiles_jvm(swipes: DataFrame, watermark_s: int) -> DataFrame:
    """The same tiles as `card_tiles_stream`, folded per card by the JVM `TileProcessor` (streaming/jvm).

    The measures' inputs are these same `input_columns`, and the processor reads `MEASURES` through
    `measure_spec`, so the definition stays one. It runs in event time on the same watermark: a
    tile leaves the card's state once the watermark passes its end, and a swipe is skipped only for
    tiles already final. Needs the processor's jar on the classpath (`make jars`).
    """
    spark = swipes.sparkSession
    # The event-time column stays out of the processor's input on purpose: transformWithState would
    # drop a swipe behind the watermark whole, where its coarser tiles, still open, must take it.
    # The watermark (on event_time, below the select) still drives the processor's timers.
    inputs = swipes.withWatermark("event_time", f"{watermark_s} seconds").select(
        "card_token", *(c.alias(n) for n, c in input_columns().items())
    )
    jvm = spark.sparkContext._jvm
    engine = jvm.io.fraudstream.tiles.CardTiles if jvm is not None else None
    if not isinstance(engine, JavaClass):  # py4j answers an unknown class with a JavaPackage
        raise RuntimeError(
            "the card-tile processor (io.fraudstream.tiles.CardTiles) is not on Spark's classpath: "
            "build it with `make jars` (mvn -f streaming/jvm/pom.xml package), pass "
            ".jars/spark/fraudstream-tiles.jar to spark-submit --jars, or set FRAUDSTREAM_TILE_ENGINE=sql"
        )
    tiles = engine.stream(
        inputs._jdf, "card_token", "event_us", ",".join(str(g) for g in GRAINS_S), measure_spec()
    )
    # Late swipes (skipped for a final tile) reach the query's progress as observedMetrics, as the
    # native aggregation's reach it as numRowsDroppedByWatermark; the processor's marker rows stop here.
    counted = DataFrame(tiles, spark).observe(LATE_ROWS_METRIC, F.sum("late_rows").alias("late_rows"))
    tiles_df = counted.where(F.col("grain_s") > 0)
    return _as_records(
        tiles_df.withColumn("tile_end", F.timestamp_seconds(F.col("start_s") + F.col("grain_s")))
    )


def tile_records(tiles: DataFrame) -> DataFrame:
    """Tiles as Kafka rows: key `<card>|<grain>|<start>` (compaction keeps a tile's newest value), JSON."""
    return tiles.select(
        F.concat_ws(
            "|", "card_token", F.col("grain_s").cast("string"), F.col("start_s").cast("string")
        ).alias("key"),
        F.to_json(F.struct(*TILE_COLUMNS)).alias("value"),
    )
