"""The job's shared edges: the Kafka source, the stream writer, and the once-only Delta and topic sinks.

Every query of `streaming.job`, `streaming.history` and `streaming.merchant_job` reads and writes
through these, so the source options, the scheduler pool per query and the txnAppId/txnVersion
append are defined once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from streaming.settings import StreamSettings

# What Spark counts as "interrupted by a stop" in a failed batch (StreamExecution.isInterruptedByStop).
_INTERRUPTIONS = (
    "java.lang.InterruptedException",
    "java.io.InterruptedIOException",
    "java.nio.channels.ClosedByInterruptException",
)


def read_topic(
    spark: SparkSession, settings: StreamSettings, topic: str, starting_offsets: str | None = None
) -> DataFrame:
    """Kafka topics (one, or a comma list) as a stream, from the configured starting offsets."""
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", starting_offsets or settings.starting_offsets)
        .option("failOnDataLoss", "false")
    )
    if settings.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
    return reader.load()


def append_once(
    batch: DataFrame, path: str, app_id: str, batch_id: int, *, merge_schema: bool = False
) -> None:
    """Append to a Delta table unless this (app, batch) is already in its log.

    `merge_schema`: the batch may carry columns the table does not have yet; they are added.
    """
    writer = batch.write.format("delta").mode("append")
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    writer.option("txnAppId", app_id).option("txnVersion", str(batch_id)).save(path)


def app_id(batch: DataFrame, query: str) -> str:
    # The query id is stable across restarts from one checkpoint and new for a new checkpoint, so a
    # fresh checkpoint (batch ids from 0 again) cannot be mistaken for a replay and silently skipped.
    query_id = batch.sparkSession.sparkContext.getLocalProperty("sql.streaming.queryId")
    return f"fraudstream.{query}.{query_id or 'unknown'}"


def writer(
    frame: DataFrame,
    settings: StreamSettings,
    query: str,
    trigger_s: float | None = None,
    checkpoint: str | None = None,
) -> Any:
    # Each query gets its own scheduler pool (used when spark.scheduler.mode=FAIR, as in main), so a
    # long Delta commit of one query does not hold the cores the feature query needs.
    frame.sparkSession.sparkContext.setLocalProperty("spark.scheduler.pool", query)
    return (
        frame.writeStream.queryName(query)
        .option("checkpointLocation", checkpoint or settings.checkpoint(query))
        .trigger(processingTime=f"{settings.trigger_s if trigger_s is None else trigger_s} seconds")
    )


def history_writer(frame: DataFrame, settings: StreamSettings, query: str) -> Any:
    """`writer` on the history trigger, for the queries whose output nothing waits on."""
    return writer(frame, settings, query, settings.history_trigger_s)


class BatchInterrupted(RuntimeError):
    """A micro-batch stopped halfway by `query.stop()`; it reruns from the checkpoint on restart."""


class InterruptedBatchLog(logging.Filter):
    """Turns py4j's error for a micro-batch that a stop interrupted into one info line.

    py4j logs every exception of a foreachBatch call at error level with its trace; for a batch
    the job's own stop interrupted (`BatchInterrupted`) that is no error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, BatchInterrupted):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = str(exc), ()
            record.exc_info, record.exc_text = None, None
        return True


def _interruption(exc: Py4JJavaError) -> str | None:
    """The Java interruption class in the error's cause chain, if the error is one."""
    try:
        cause, depth = exc.java_exception, 0
        while cause is not None and depth < 10:
            name = cause.getClass().getName()
            if name in _INTERRUPTIONS:
                return str(name)
            cause, depth = cause.getCause(), depth + 1
    except Exception:  # the JVM is already going away: not ours to judge
        return None
    return None


def start_batches(stream: Any, write: Callable[[DataFrame, int], None]) -> StreamingQuery:
    """Start a configured stream writer with `write` called once per micro-batch.

    When a stop interrupts a batch, the batch fails with one short line. Spark decides whether a
    foreachBatch failure was its own stop by matching "py4j.protocol.Py4JJavaError: An error
    occurred while calling ... java.lang.InterruptedException" in the Python error's text, with a
    regex that recurses once per character: over the ~18 KB of the full Py4J trace it overflows the
    stream thread's stack, and the stop is reported as a failure. The short line keeps both parts
    the regex looks for, so the stop is a clean stop.
    """

    def run(batch: DataFrame, batch_id: int) -> None:
        try:
            write(batch, batch_id)
        except Py4JJavaError as exc:
            interruption = _interruption(exc)
            if interruption is None:
                raise
            call = (str(exc.errmsg).strip().splitlines() or ["An error occurred"])[0].rstrip(".")
            raise BatchInterrupted(
                f"micro-batch {batch_id} stopped halfway, it reruns from the checkpoint "
                f"(py4j.protocol.Py4JJavaError: {call}: {interruption})"
            ) from None

    query: StreamingQuery = stream.foreachBatch(run).start()
    return query


def publish_records(
    batch: DataFrame, batch_id: int, settings: StreamSettings, *, key: str, topic: str, table: str, query: str
) -> None:
    """A fold's micro-batch of records (`key`, `value`, ...) to its compacted topic and, once, to Delta."""
    # Persisted: a second evaluation would rerun the fold and stamp another computed_at.
    batch.persist()
    try:
        if batch.isEmpty():  # a batch that only moved the watermark or evicted idle keys
            return
        (
            batch.select(F.col(key).alias("key"), "value")
            .write.format("kafka")
            .option("kafka.bootstrap.servers", settings.bootstrap)
            .option("topic", topic)
            .save()
        )
        append_once(batch, settings.table(table), app_id(batch, query), batch_id)
    finally:
        batch.unpersist()


def start_published(
    records: DataFrame,
    settings: StreamSettings,
    *,
    key: str,
    topic: str,
    table: str,
    query: str,
    trigger_s: float | None = None,
) -> StreamingQuery:
    """A fold's query (update mode): its records to the compacted `topic` and, once, to Delta `table`."""

    def write(batch: DataFrame, batch_id: int) -> None:
        publish_records(batch, batch_id, settings, key=key, topic=topic, table=table, query=query)

    return start_batches(writer(records, settings, query, trigger_s).outputMode("update"), write)
