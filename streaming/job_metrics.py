"""The job's observability: query progress -> Prometheus metrics and JSON log lines (foundation.logs)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from pyspark.sql.streaming import StreamingQueryListener

from streaming.tiles import LATE_ROWS_METRIC

log = logging.getLogger("fraudstream.stream")


class StreamMetrics:
    """The job's metrics, built against the registry passed in (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        q = ["query"]
        self.input_rows_per_second = Gauge(
            "fraudstream_stream_input_rows_per_second", "Rows/s arriving at the query.", q, registry=registry
        )
        self.processed_rows_per_second = Gauge(
            "fraudstream_stream_processed_rows_per_second",
            "Rows/s the query processed.",
            q,
            registry=registry,
        )
        self.batch_duration_seconds = Gauge(
            "fraudstream_stream_batch_duration_seconds",
            "Duration of the last micro-batch.",
            q,
            registry=registry,
        )
        self.state_rows = Gauge(
            "fraudstream_stream_state_rows", "Keys held in the query's state store.", q, registry=registry
        )
        self.watermark_delay_seconds = Gauge(
            "fraudstream_stream_watermark_delay_seconds",
            "Wall clock at the batch start minus the event-time watermark.",
            q,
            registry=registry,
        )
        self.late_rows = Counter(
            "fraudstream_stream_late_rows",
            "Rows dropped by a stateful operator because they were behind the watermark.",
            q,
            registry=registry,
        )
        self.dead_letters = Counter(
            "fraudstream_stream_dead_letters",
            "Invalid records (swipes, labels) written to the dead_letters table.",
            q,
            registry=registry,
        )
        self.batches = Counter("fraudstream_stream_batches", "Micro-batches completed.", q, registry=registry)
        # Only a driver that started a history driver (streaming.history_driver) sets it.
        self.history_driver_nice = Gauge(
            "fraudstream_history_driver_nice",
            "Nice level of the history driver this driver started; its own level while the floor "
            "(FRAUDSTREAM_HISTORY_STARVED_S) lifts a starved history side.",
            ["driver"],
            registry=registry,
        )
        # Spark repeats the last progress while a query is idle; count each batch once.
        self._last_batch: dict[str, int] = {}


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def record_progress(metrics: StreamMetrics, progress: Mapping[str, Any]) -> None:
    """Apply one StreamingQueryProgress (as its JSON dict) to the metrics. Pure but for the registry."""
    query = progress.get("name") or progress["id"]
    metrics.input_rows_per_second.labels(query).set(float(progress.get("inputRowsPerSecond") or 0.0))
    metrics.processed_rows_per_second.labels(query).set(float(progress.get("processedRowsPerSecond") or 0.0))
    metrics.batch_duration_seconds.labels(query).set(float(progress.get("batchDuration") or 0) / 1000.0)
    operators = progress.get("stateOperators") or []
    if operators:
        metrics.state_rows.labels(query).set(sum(int(op.get("numRowsTotal") or 0) for op in operators))
    watermark = (progress.get("eventTime") or {}).get("watermark")
    if watermark and _iso(watermark).timestamp() > 0:  # epoch 0: no event seen yet
        delay = (_iso(progress["timestamp"]) - _iso(watermark)).total_seconds()
        metrics.watermark_delay_seconds.labels(query).set(delay)

    batch_id = int(progress.get("batchId", -1))
    if batch_id <= metrics._last_batch.get(query, -1):
        return
    metrics._last_batch[query] = batch_id
    metrics.batches.labels(query).inc()
    metrics.late_rows.labels(query).inc(late_rows(progress))


def late_rows(progress: Mapping[str, Any]) -> int:
    """Rows a batch dropped as late: the state operators' count and the JVM tile engine's observed one."""
    dropped = sum(
        int(op.get("numRowsDroppedByWatermark") or 0) for op in progress.get("stateOperators") or []
    )
    observed = (progress.get("observedMetrics") or {}).get(LATE_ROWS_METRIC) or {}
    return dropped + int(observed.get("late_rows") or 0)


def progress_line(progress: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a progress worth a log line: what ran, how much, how late."""
    operators = progress.get("stateOperators") or []
    return {
        "event": "stream_progress",
        "query": progress.get("name"),
        "batch": progress.get("batchId"),
        "rows": progress.get("numInputRows"),
        "input_rows_per_s": progress.get("inputRowsPerSecond"),
        "processed_rows_per_s": progress.get("processedRowsPerSecond"),
        "batch_ms": progress.get("batchDuration"),
        "phases_ms": progress.get("durationMs") or {},
        "watermark": (progress.get("eventTime") or {}).get("watermark"),
        "state_rows": sum(int(op.get("numRowsTotal") or 0) for op in operators),
        "late_rows": late_rows(progress),
        "observed": progress.get("observedMetrics") or {},
    }


class Relay:
    """A child driver's metric updates, as JSON lines on a pipe to the driver that serves /metrics.

    The history driver (streaming.settings.history_apart) serves no port of its own: it sends each
    query progress and each batch's dead-letter count here, and the parent applies them to its
    metrics with `apply_relayed`, so one scrape sees every query of the job.
    """

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._lock = threading.Lock()  # progress comes from Spark's listener thread, counts from batches

    def send(self, message: Mapping[str, Any]) -> None:
        line = json.dumps(message, separators=(",", ":")) + "\n"
        with self._lock:
            self._out.write(line)
            self._out.flush()

    def progress(self, progress: Mapping[str, Any]) -> None:
        self.send({"progress": progress})

    def idle(self, query: str) -> None:
        """A query found nothing new to read: not starved, nothing to do (streaming.history_floor)."""
        self.send({"idle": {"query": query}})

    def dead_letters(self, query: str) -> Callable[[int], None]:
        """The `on_invalid` of a query: relays how many of a batch's records went to dead_letters."""
        return lambda count: self.send({"dead_letters": {"query": query, "count": int(count)}})


def apply_relayed(metrics: StreamMetrics, line: str) -> dict[str, Any] | None:
    """Apply one line of a `Relay` to `metrics`; returns the message it carried, if it was one.

    A line that is not a relay message is logged and skipped: the child's metrics must never stop
    the parent.
    """
    try:
        message: dict[str, Any] = json.loads(line)
        if "progress" in message:
            record_progress(metrics, message["progress"])
        elif "idle" in message:
            if not isinstance(message["idle"].get("query"), str):
                raise TypeError("an idle message names no query")
        else:
            counted = message["dead_letters"]
            metrics.dead_letters.labels(str(counted["query"])).inc(int(counted["count"]))
        return message
    except (KeyError, ValueError, TypeError, AttributeError):
        log.warning("skipped a line of the history driver's metrics", extra={"fields": {"line": line[:200]}})
    return None


def follow_relay(
    lines: Iterable[str],
    metrics: StreamMetrics,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_idle: Callable[[str], None] | None = None,
) -> None:
    """Apply every line of a child's relay until it closes (run it in a thread); hand each progress
    to `on_progress` and the name of each idle query to `on_idle`."""
    for line in lines:
        if not line.strip():
            continue
        message = apply_relayed(metrics, line)
        if message is None:
            continue
        if "progress" in message and on_progress is not None:
            on_progress(message["progress"])
        elif "idle" in message and on_idle is not None:
            on_idle(message["idle"]["query"])


class ProgressExporter(StreamingQueryListener):
    """Feeds every query progress to `record_progress` (and to `relay`, in a child driver) and logs
    it as one JSON line."""

    def __init__(self, metrics: StreamMetrics, relay: Relay | None = None) -> None:
        self.metrics = metrics
        self.relay = relay
        self._names: dict[str, str] = {}  # an idle event carries the query's id, not its name

    def onQueryStarted(self, event: Any) -> None:
        self._names[str(event.id)] = event.name
        log.info("stream query started", extra={"fields": {"query": event.name, "id": str(event.id)}})

    def onQueryProgress(self, event: Any) -> None:
        progress = json.loads(event.progress.json)
        try:
            record_progress(self.metrics, progress)
        except (KeyError, ValueError, TypeError):
            log.exception(
                "could not export a query progress", extra={"fields": {"query": progress.get("name")}}
            )
        if self.relay is not None:
            self.relay.progress(progress)
        log.info("stream progress", extra={"fields": progress_line(progress)})

    def onQueryIdle(self, event: Any) -> None:
        name = self._names.get(str(event.id))
        if self.relay is not None and name is not None:
            self.relay.idle(name)

    def onQueryTerminated(self, event: Any) -> None:
        fields = {"query": str(event.id), "exception": event.exception}
        if event.exception:
            log.error("stream query failed", extra={"fields": fields})
        else:
            log.info("stream query stopped", extra={"fields": fields})
