"""The feature job's I/O: Kafka swipes, labels and decisions in; Delta tables and the feature topics out.

Four queries, each with its own checkpoint (a query has one sink and one output mode: Spark refuses
session windows in Update mode, and the tiles' Update output cannot feed an Append aggregation):

    card_tiles         per-card tiles, native aggregation (update) -> Kafka `card-tiles`: the hot
                       query, on the short trigger, the only one the scorer waits on
    history            one source over swipes, labels and decisions -> Delta `swipes`, `labels`,
                       `decisions` and `dead_letters` (streaming.history)
    sessions           closed session windows (append) -> Delta `sessions`
    merchant_features  per-merchant fold of swipes and fraud labels -> Kafka `merchant-features`
                       and Delta `merchant_features` (streaming.merchant_job)

All but card_tiles run on the long history trigger. Delta writes in foreachBatch carry
txnAppId/txnVersion, so a batch replayed after a crash or a restart is not written twice. The hot
query writes no Delta: its tiles go straight to Kafka (at-least-once; a replayed batch re-emits
the same tile values, and a consumer keeps a tile's newest value).

The hot query and the other three run in two drivers when the master is local (the default,
FRAUDSTREAM_HISTORY_APART): this process runs card_tiles and serves the job's /metrics, and a child
`python -m streaming.job` at a lower CPU priority runs the history side (streaming.history_driver),
so the kernel, not Spark's scheduler, gives the hot query the cores first, with a floor under the
history side (FRAUDSTREAM_HISTORY_STARVED_S). On a cluster, run one driver with
FRAUDSTREAM_QUERIES=hot and one with FRAUDSTREAM_QUERIES=history (deploy/ does).

Run it with `python -m streaming.job` (local[2] by default) or `spark-submit streaming/job.py`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import pyspark
from delta.tables import DeltaTable
from prometheus_client import CollectorRegistry, start_http_server
from pydantic import ValidationError
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from foundation.logs import configure_logging
from foundation.settings import setting_problems
from foundation.tables import (
    TABLE_DEAD_LETTERS,
    TABLE_LABELS,
    TABLE_MERCHANT_FEATURES,
    TABLE_SESSIONS,
    TABLE_SWIPES,
)
from streaming.features import Clock, closed_sessions, dead_letters, good_swipes, parse_swipes, utc_now
from streaming.history import QUERY_HISTORY, OnInvalid, start_history
from streaming.history_driver import HistoryDriver, as_history_child, history_apart
from streaming.job_metrics import ProgressExporter, StreamMetrics
from streaming.merchant_features import good_labels, merchant_features_batch, parse_labels
from streaming.merchant_job import QUERY_MERCHANTS, start_merchant_features
from streaming.settings import StreamSettings
from streaming.sinks import InterruptedBatchLog, history_writer, read_topic, writer
from streaming.tile_spark import card_tiles_jvm, card_tiles_stream, tile_records

FAIR_POOLS = Path(__file__).resolve().parent / "resources" / "fairscheduler.xml"
QUERY_TILES = "card_tiles"
QUERY_SESSIONS = "sessions"
_KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, "
    "timestamp timestamp, timestampType int"
)

log = logging.getLogger("fraudstream.stream")


def read_swipes(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    return read_topic(spark, settings, settings.topic_swipes)


def ensure_tables(spark: SparkSession, settings: StreamSettings) -> None:
    """Create the empty Delta tables, so readers find them before the first swipe arrives."""
    raw = spark.createDataFrame([], _KAFKA_SCHEMA)
    parsed = parse_swipes(raw)
    swipes = good_swipes(parsed)
    labels = good_labels(parse_labels(raw))
    tables = {
        TABLE_SWIPES: swipes,
        TABLE_DEAD_LETTERS: dead_letters(parsed),
        TABLE_SESSIONS: closed_sessions(swipes, settings.session_gap_s, settings.watermark_s),
        TABLE_LABELS: labels,
        TABLE_MERCHANT_FEATURES: merchant_features_batch(swipes, labels, settings.merchant_config),
    }
    for name, empty in tables.items():
        # A metadata-only commit: no Spark job runs, so a restart costs nothing here.
        DeltaTable.createIfNotExists(spark).location(settings.table(name)).addColumns(empty.schema).execute()


def job_spark_conf(settings: StreamSettings) -> dict[str, str]:
    """The job's Spark settings beyond streaming.spark's defaults; the bench builds its session with them."""
    return {
        # One pool per query (see sinks.writer): a long Delta commit of one query does not hold the cores,
        # and card_tiles, the query the scorer waits on, goes first (resources/fairscheduler.xml).
        "spark.scheduler.mode": "FAIR",
        "spark.scheduler.allocation.file": str(FAIR_POOLS),
        # Each append with txnAppId/txnVersion replays the table's log to find the app's last version
        # (Delta 4.4 keeps no shortcut for it): 3 small Spark jobs per commit. On small logs one
        # partition halves their time against two.
        "spark.databricks.delta.snapshotPartitions": str(settings.delta_log_partitions),
    }


# FRAUDSTREAM_QUERIES -> the queries a driver runs (see start)
QUERY_PARTS = {
    "all": (QUERY_TILES, QUERY_HISTORY, QUERY_SESSIONS, QUERY_MERCHANTS),
    "hot": (QUERY_TILES,),
    "history": (QUERY_HISTORY, QUERY_SESSIONS, QUERY_MERCHANTS),
}

# FRAUDSTREAM_TILE_ENGINE -> the fold the hot query runs, and the folder of its checkpoint
TILE_FOLDS = {"jvm": card_tiles_jvm, "sql": card_tiles_stream}
_TILE_CHECKPOINTS = {"jvm": f"{QUERY_TILES}_jvm", "sql": QUERY_TILES}


def tiles_checkpoint(settings: StreamSettings) -> str:
    """The hot query's checkpoint, one per tile engine: their states differ (a row per tile, per card).

    So switching engines (or upgrading a job that ran `sql`, the only engine before `jvm`) starts
    the other engine's checkpoint from FRAUDSTREAM_STARTING_OFFSETS instead of failing on a state it
    cannot read; the tiles it emits again replace their older values on the compacted topic.
    """
    return settings.checkpoint(_TILE_CHECKPOINTS[settings.tile_engine])


def query_checkpoints(settings: StreamSettings) -> dict[str, str]:
    """Where each query of this driver's part (settings.queries) keeps its checkpoint.

    One folder per query under FRAUDSTREAM_CHECKPOINT_ROOT (the writers of streaming.sinks name it
    after the query; the hot query's after its engine), so a hot and a history driver can share the
    root: they never share a checkpoint.
    """
    return {
        query: tiles_checkpoint(settings) if query == QUERY_TILES else settings.checkpoint(query)
        for query in QUERY_PARTS[settings.queries]
    }


def start_tiles(spark: SparkSession, settings: StreamSettings) -> StreamingQuery:
    """The hot query: each micro-batch's changed card tiles straight to the compacted `card-tiles` topic.

    Native aggregation only (no Python per row or per card) and no Delta commit, so a swipe's tiles
    reach the scorer one short trigger after the swipe reached Kafka.
    """
    swipes = good_swipes(parse_swipes(read_swipes(spark, settings)))
    records = tile_records(TILE_FOLDS[settings.tile_engine](swipes, settings.watermark_s))
    return (
        writer(records, settings, QUERY_TILES, checkpoint=tiles_checkpoint(settings))
        .outputMode("update")
        .format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap)
        .option("topic", settings.topic_tiles)
        .start()
    )


def start_sessions(spark: SparkSession, settings: StreamSettings) -> StreamingQuery:
    swipes = good_swipes(parse_swipes(read_swipes(spark, settings)))
    sessions = closed_sessions(swipes, settings.session_gap_s, settings.watermark_s)
    return (
        history_writer(sessions, settings, QUERY_SESSIONS)
        .outputMode("append")
        .format("delta")
        .start(settings.table(TABLE_SESSIONS))
    )


def start(
    spark: SparkSession,
    settings: StreamSettings,
    clock: Clock = utc_now,
    metrics: StreamMetrics | None = None,
    queries: str = "all",
    on_invalid: OnInvalid | None = None,
) -> list[StreamingQuery]:
    """Start the job's queries (`queries`: all, hot or history, as StreamSettings.queries), the hot
    one first; the caller stops them. The history part creates the Delta tables first if needed.

    The history query counts the records each batch sends to `dead_letters` with `on_invalid`, or
    else in `metrics` (the other figures come from the queries' progress, through `ProgressExporter`).
    """
    if on_invalid is None and metrics is not None:
        on_invalid = metrics.dead_letters.labels(QUERY_HISTORY).inc
    if queries not in QUERY_PARTS:
        raise ValueError(f"queries {queries!r}: expected one of {', '.join(QUERY_PARTS)}")
    hot, history = QUERY_TILES in QUERY_PARTS[queries], QUERY_HISTORY in QUERY_PARTS[queries]
    started: list[StreamingQuery] = []
    try:
        if history:
            ensure_tables(spark, settings)
        if hot:
            started.append(start_tiles(spark, settings))
        if history:
            started.append(start_history(spark, settings, on_invalid))
            started.append(start_sessions(spark, settings))
            started.append(start_merchant_features(spark, settings, clock))
    except Exception:
        stop(started)
        raise
    finally:
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", None)  # type: ignore[arg-type]
    return started


def stop(queries: list[StreamingQuery], drain_timeout_s: float = 5.0) -> None:
    """Stop each query between two micro-batches if it gets there within the timeout, else at once.

    A stop in the middle of a batch interrupts its foreachBatch call: nothing is lost (the batch
    reruns from the checkpoint and the Delta appends are idempotent), but Spark then logs the
    interrupted Python call, and a regex over that long trace overflows the stack of the stream
    thread. Waiting for the trigger to go idle avoids both almost always.
    """
    deadline = time.monotonic() + drain_timeout_s
    for query in queries:
        while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
            time.sleep(0.05)
        if query.isActive:
            query.stop()


def spark_submit_command(settings: StreamSettings, master: str) -> list[str]:
    """The argv that runs this job under spark-submit on `master`, with the connector jars.

    Under spark-submit the JVM already runs when Python starts, so the jars must come with
    `--jars` (or `--packages`), not from the session builder. Stop it gracefully with SIGTERM to
    the Python driver (the child of spark-submit); SIGTERM to the JVM stops the queries abruptly,
    which loses nothing (checkpoints and idempotent Delta writes) but replays the last batch.
    """
    from streaming.spark import connector_jars

    spark_home = Path(pyspark.__file__).parent
    return [
        str(spark_home / "bin" / "spark-submit"),
        "--master",
        master,
        "--jars",
        ",".join(connector_jars(settings.jars_dir)),
        "--conf",
        "spark.ui.enabled=false",
        str(Path(__file__).resolve()),
    ]


def _under_spark_submit() -> bool:
    # spark-submit starts the Python driver with a gateway to its own JVM, whose master it owns.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def main(settings: StreamSettings | None = None) -> int:
    """Run the job until SIGTERM/SIGINT or a query fails; returns the process exit code."""
    configure_logging("INFO")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    logging.getLogger("py4j.clientserver").addFilter(InterruptedBatchLog())
    if settings is None:
        try:
            settings = StreamSettings()
        except ValidationError as exc:
            for problem in setting_problems(exc) or [str(exc)]:
                log.error(problem)
            return 2
    from foundation.topics import ensure_stack_topics
    from streaming.spark import build_session

    try:
        ensure_stack_topics(settings)
    except Exception as exc:
        log.error(
            f"Kafka at {settings.bootstrap} is not reachable ({exc}); start it with `fraudstream up` "
            "or set FRAUDSTREAM_KAFKA_BOOTSTRAP"
        )
        return 2
    submitted = _under_spark_submit()
    master = None if submitted else settings.spark_master
    relay = as_history_child(settings)
    spark = build_session(
        "fraudstream-features" if settings.queries == "all" else f"fraudstream-features-{settings.queries}",
        settings.jars_dir,
        master=master,
        shuffle_partitions=settings.shuffle_partitions,
        extra=job_spark_conf(settings),
        jars_required=not submitted,
    )
    spark.sparkContext.setLogLevel("WARN")
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry)
    listener = ProgressExporter(metrics, relay)
    spark.streams.addListener(listener)
    server = start_http_server(settings.metrics_port, registry=registry) if settings.metrics_port else None

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("stop requested", extra={"fields": {"signal": signal.Signals(signum).name}})
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    # A history driver stops when its parent says so: Ctrl-C reaches the whole process group.
    signal.signal(signal.SIGINT, request_stop if relay is None else signal.SIG_IGN)
    history = HistoryDriver(settings, metrics) if history_apart(settings, master) else None
    here = "hot" if history is not None else settings.queries
    code = 0
    queries: list[StreamingQuery] = []
    try:
        queries = start(
            spark,
            settings,
            metrics=metrics,
            queries=here,
            on_invalid=relay.dead_letters(QUERY_HISTORY) if relay is not None else None,
        )
        if history is not None:
            history.start()
        log.info(
            "feature job running",
            extra={
                "fields": {
                    "queries": [q.name for q in queries],
                    "history_driver": history.process.pid if history and history.process else None,
                    "bootstrap": settings.bootstrap,
                    "delta": settings.delta_path,
                    "metrics_port": settings.metrics_port,
                }
            },
        )
        # Short waits, not one blocking call, so the signal handler gets to run between them.
        while not stopping.is_set():
            if spark.streams.awaitAnyTermination(timeout=1):
                break
            if history is not None and (exited := history.exit_code()) is not None:
                log.error(
                    "the history driver exited; stopping the job", extra={"fields": {"exit_code": exited}}
                )
                code = 1
                break
    except StreamingQueryException as exc:
        log.error("a stream query failed; stopping the job", extra={"fields": {"error": str(exc)}})
        code = 1
    finally:
        stop(queries)
        if history is not None:
            history.stop()
        spark.streams.removeListener(listener)
        if server:
            server[0].shutdown()
        spark.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
