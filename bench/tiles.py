"""`fraudstream-bench tiles`: the hot query alone, on a preloaded topic, against a parse-only query.

N generated swipes of 20,000 cards, spread over two days of event time, go to a real embedded
broker first. Then, in one SparkSession (local[2], the job's own settings), queries read the whole
topic in batches of `batch` swipes (maxOffsetsPerTrigger), each from the start:

    parse      the hot query's source and checked parse, straight to a Kafka topic: no aggregation
               (the baseline the hot query is a ratio of; a first parse run warms the JVM up)
    card_tiles the job's hot query as it runs (`streaming.job.start_tiles`), once per tile engine:
               jvm (the TileProcessor, the default) and sql (Spark's own aggregates)
    variants   the hot query again, with Spark settings of your own (`--conf KEY=VALUE`, repeatable):
               e.g. another state store provider

Rates are taken inside steady batches (every full batch but the first, which pays planning and the
JIT), from each query's own progress. The JVM's CPU time over each run is printed too: on a shared
machine it moves less than wall time. One raw confluent-kafka consumer of the topic is the physical
ceiling, as in `bench stream`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery
from rich.console import Console
from rich.progress import Progress

from bench import machine, output
from bench.kafka import embedded_broker, fresh_name, produce_waiting, raw_consume_rate
from bench.measure import ratio
from bench.stream_feed import swipe_pool
from foundation.topics import ensure_topics
from services.generator.publish import producer_config
from streaming.settings import StreamSettings

START = datetime(2026, 6, 1, tzinfo=UTC)
SPAN_S = 2 * 86400
ENGINES = ("jvm", "sql")


def preload_swipes(
    bootstrap: str, topic: str, pool: list[dict[str, Any]], count: int, console: Console
) -> None:
    """`count` pool swipes with fresh ids, evenly spread over SPAN_S of event time from START."""
    producer = Producer(producer_config(bootstrap))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"publishing {count:,} swipes", total=count)
        for i in range(count):
            swipe = dict(pool[i % len(pool)], swipe_id=f"tb-{i}")
            swipe["event_time"] = (START + timedelta(seconds=i * SPAN_S / count)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            )
            produce_waiting(producer, topic, swipe["card_token"].encode(), json.dumps(swipe).encode())
            if i % 20_000 == 0:
                bar.update(task, completed=i)
    producer.flush(120)


def steady_rate(progress: list[dict[str, Any]], batch: int) -> tuple[float, int]:
    """Swipes/s over the full batches after the first, and how many batches that is."""
    full = [p for p in progress if p["numInputRows"] >= batch * 0.9][1:]
    rows = sum(p["numInputRows"] for p in full)
    ms = sum(p["durationMs"]["triggerExecution"] for p in full)
    return (rows / ms * 1000.0 if ms else 0.0), len(full)


def jvm_cpu_s(spark: SparkSession) -> float:
    """The driver JVM's CPU time so far (user + system, every thread), from /proc."""
    pid = spark.sparkContext._jvm.ProcessHandle.current().pid()  # type: ignore[union-attr]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _parse_only(spark: SparkSession, settings: StreamSettings) -> StreamingQuery:
    from pyspark.sql import functions as F

    from streaming.features import good_swipes, parse_swipes
    from streaming.job import read_swipes
    from streaming.sinks import writer

    swipes = good_swipes(parse_swipes(read_swipes(spark, settings)))
    records = swipes.select(F.col("card_token").alias("key"), F.to_json(F.struct("*")).alias("value"))
    return (
        writer(records, settings, "parse")
        .format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap)
        .option("topic", settings.topic_tiles)
        .start()
    )


def _timed(
    spark: SparkSession, name: str, start: Callable[[], StreamingQuery], batch: int, console: Console
) -> dict[str, Any]:
    cpu0, wall0 = jvm_cpu_s(spark), time.perf_counter()
    with console.status(f"{name}: reading the whole topic"):
        query = start()
        try:
            query.processAllAvailable()
            # StreamingQueryProgress reads like the progress JSON's dict
            progress: list[Any] = list(query.recentProgress)
        finally:
            query.stop()
    cpu, wall = jvm_cpu_s(spark) - cpu0, time.perf_counter() - wall0
    rate, batches = steady_rate(progress, batch)
    swipes = sum(p["numInputRows"] for p in progress)
    result = {
        "name": name,
        "swipes": swipes,
        "steady_rate": round(rate, 1),
        "steady_batches": batches,
        "wall_s": round(wall, 1),
        "jvm_cpu_us_per_swipe": round(cpu / swipes * 1e6, 1) if swipes else 0.0,
        "batch_ms": [p["durationMs"]["triggerExecution"] for p in progress if p["numInputRows"]],
    }
    console.print(
        f"  {name}: {rate:,.0f} swipes/s in {batches} steady batches, "
        f"{result['jvm_cpu_us_per_swipe']} us of JVM CPU a swipe"
    )
    return result


def run(
    *,
    swipes: int = 300_000,
    batch: int = 100_000,
    confs: list[str] | None = None,
    json_path: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    from streaming.job import job_spark_conf, start_tiles
    from streaming.spark import build_session

    console = console or Console()
    info = machine.describe()
    console.print(f"[bold]tiles bench[/] on {machine.summary(info)}: {swipes:,} swipes, batches of {batch:,}")
    base = StreamSettings()
    with console.status("generating the swipe pool (20,000 cards)"):
        pool = swipe_pool(base.token_key.get_secret_value().encode())
    variants = [tuple(c.split("=", 1)) for c in confs or []]
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with embedded_broker(tmp / "kafka", base.jars_dir) as bootstrap:
            topic = fresh_name("swipes")
            ensure_topics(bootstrap, [topic], partitions=base.topic_partitions)
            preload_swipes(bootstrap, topic, pool, swipes, console)
            records, seconds = raw_consume_rate(bootstrap, topic)

            def settings_for(name: str, engine: str = base.tile_engine) -> StreamSettings:
                settings = base.model_copy(
                    update={
                        "kafka_bootstrap": bootstrap,
                        "topic_swipes": topic,
                        "topic_tiles": fresh_name(name),
                        "checkpoint_root": str(tmp / "checkpoints" / name),
                        "delta_root": str(tmp / "delta"),
                        "max_offsets_per_trigger": batch,
                        "trigger_s": 0.0,
                        "starting_offsets": "earliest",
                        "tile_engine": engine,
                    }
                )
                ensure_topics(bootstrap, [settings.topic_tiles], partitions=base.topic_partitions)
                return settings

            spark = build_session(
                "fraudstream-bench-tiles",
                base.jars_dir,
                master=base.spark_master,
                shuffle_partitions=base.shuffle_partitions,
                extra=job_spark_conf(base),
            )
            spark.sparkContext.setLogLevel("ERROR")
            try:
                # The session's first query pays class loading and the JIT: a parse run that is not kept.
                _timed(spark, "warm-up", lambda: _parse_only(spark, settings_for("warmup")), batch, console)
                runs = [
                    _timed(spark, "parse", lambda: _parse_only(spark, settings_for("parse")), batch, console),
                    *(
                        _timed(
                            spark,
                            f"card_tiles, {engine}",
                            partial(lambda e: start_tiles(spark, settings_for(f"tiles-{e}", e)), engine),
                            batch,
                            console,
                        )
                        for engine in ENGINES
                    ),
                ]
                for k, (key, value) in enumerate(variants):
                    before = spark.conf.get(key, None)
                    spark.conf.set(key, value)  # read when the query starts, kept in its checkpoint
                    try:
                        name = f"card_tiles, {key.rsplit('.', 1)[-1]}={value.rsplit('.', 1)[-1]}"
                        runs.append(
                            _timed(
                                spark,
                                name,
                                partial(lambda n: start_tiles(spark, settings_for(n)), f"v{k}"),
                                batch,
                                console,
                            )
                        )
                    finally:
                        if before is None:
                            spark.conf.unset(key)
                        else:
                            spark.conf.set(key, before)
            finally:
                spark.stop()
    raw_rate = records / seconds if seconds > 0 else 0.0
    parse_rate = runs[0]["steady_rate"]
    for r in runs:
        r["ratio_vs_parse"] = round(ratio(r["steady_rate"], parse_rate), 4)
        r["ratio_vs_raw"] = round(ratio(r["steady_rate"], raw_rate), 5)
    result = {
        "bench": "tiles",
        "swipes": swipes,
        "batch": batch,
        "machine": info,
        "raw_consume": {
            "records": records,
            "seconds": round(seconds, 3),
            "records_per_s": round(raw_rate, 1),
        },
        "runs": runs,
    }
    console.print(render(result))
    output.finish(console, result, json_path)
    return result


def render(result: dict[str, Any]) -> Any:
    raw = result["raw_consume"]["records_per_s"]
    rows = [["raw read, one confluent-kafka consumer", output.fmt(raw), "", "", "1"]]
    for r in result["runs"]:
        rows.append(
            [
                r["name"],
                output.fmt(r["steady_rate"]),
                f"{r['jvm_cpu_us_per_swipe']}",
                f"{r['ratio_vs_parse']:.3f}",
                f"{r['ratio_vs_raw']:.4f}",
            ]
        )
    return output.table(
        f"the hot query alone: {result['swipes']:,} swipes in batches of {result['batch']:,}",
        ["query", "swipes/s (steady batches)", "JVM CPU us a swipe", "ratio vs parse", "ratio vs raw read"],
        rows,
    )
