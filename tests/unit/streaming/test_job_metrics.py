"""Query progress -> Prometheus metrics, against a fresh registry per test."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from foundation.logs import JsonFormatter
from streaming.job_metrics import StreamMetrics, late_rows, progress_line, record_progress


def progress(batch: int, **override: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "q-1",
        "name": "card_tiles",
        "timestamp": "2026-11-27T09:10:00.000Z",
        "batchId": batch,
        "batchDuration": 1500,
        "numInputRows": 40,
        "inputRowsPerSecond": 20.0,
        "processedRowsPerSecond": 26.5,
        "durationMs": {"addBatch": 1200, "triggerExecution": 1500},
        "eventTime": {"watermark": "2026-11-27T09:08:30.000Z"},
        "stateOperators": [{"numRowsTotal": 7, "numRowsDroppedByWatermark": 2}],
        "observedMetrics": {},
    }
    base.update(override)
    return base


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def value(registry: CollectorRegistry, name: str, query: str | None = "card_tiles") -> float | None:
    return registry.get_sample_value(name, {"query": query} if query else {})


def test_progress_sets_rates_duration_state_and_watermark_delay(registry: CollectorRegistry) -> None:
    record_progress(StreamMetrics(registry), progress(0))
    assert value(registry, "fraudstream_stream_input_rows_per_second") == 20.0
    assert value(registry, "fraudstream_stream_processed_rows_per_second") == 26.5
    assert value(registry, "fraudstream_stream_batch_duration_seconds") == 1.5
    assert value(registry, "fraudstream_stream_state_rows") == 7
    # batch started 09:10:00, watermark at 09:08:30
    assert value(registry, "fraudstream_stream_watermark_delay_seconds") == 90.0
    assert value(registry, "fraudstream_stream_batches_total") == 1
    assert value(registry, "fraudstream_stream_late_rows_total") == 2


def test_a_repeated_progress_of_the_same_batch_counts_once(registry: CollectorRegistry) -> None:
    metrics = StreamMetrics(registry)
    for p in (progress(3), progress(3), progress(4, stateOperators=[{"numRowsTotal": 5}])):
        record_progress(metrics, p)
    assert value(registry, "fraudstream_stream_batches_total") == 2
    assert value(registry, "fraudstream_stream_late_rows_total") == 2
    assert value(registry, "fraudstream_stream_state_rows") == 5


def test_a_stateless_query_gets_no_state_watermark_or_dead_letter_series(registry: CollectorRegistry) -> None:
    metrics = StreamMetrics(registry)
    history = {"name": "history", "stateOperators": [], "eventTime": {}}
    record_progress(metrics, progress(0, **history))
    assert value(registry, "fraudstream_stream_batches_total", "history") == 1
    # Not invented from a progress: the history query counts its dead letters itself.
    assert value(registry, "fraudstream_stream_dead_letters_total", "history") is None
    assert value(registry, "fraudstream_stream_state_rows", "history") is None
    assert value(registry, "fraudstream_stream_watermark_delay_seconds", "history") is None


@pytest.mark.parametrize(
    ("operators", "observed", "late"),
    [
        ([{"numRowsDroppedByWatermark": 2}], {}, 2),  # the sql engine: Spark's aggregation drops them
        ([{"numRowsDroppedByWatermark": 0}], {"card_tiles_late": {"late_rows": 3}}, 3),  # the jvm engine
        ([{"numRowsDroppedByWatermark": 1}], {"card_tiles_late": {"late_rows": 3}}, 4),
        ([], {"card_tiles_late": {"late_rows": None}}, 0),  # a batch that emitted no tile: sum of nothing
        ([], {"other": {"late_rows": 9}}, 0),  # someone else's observation is not counted
    ],
)
def test_late_rows_add_the_operators_and_the_jvm_engines_count(
    operators: list[dict[str, int]], observed: dict[str, Any], late: int
) -> None:
    assert late_rows(progress(1, stateOperators=operators, observedMetrics=observed)) == late


def test_no_watermark_delay_before_the_first_event(registry: CollectorRegistry) -> None:
    record_progress(StreamMetrics(registry), progress(0, eventTime={"watermark": "1970-01-01T00:00:00.000Z"}))
    assert value(registry, "fraudstream_stream_watermark_delay_seconds") is None


def test_progress_line_is_a_flat_summary() -> None:
    line = progress_line(progress(9))
    assert line["query"] == "card_tiles"
    assert (line["batch"], line["rows"], line["state_rows"], line["late_rows"]) == (9, 40, 7, 2)


def test_log_lines_are_json_with_the_record_fields() -> None:
    record = logging.LogRecord("fraudstream.stream", logging.INFO, __file__, 1, "stream progress", None, None)
    record.fields = {"query": "card_tiles", "batch": 3}
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["msg"], line["query"], line["batch"]) == (
        "info",
        "stream progress",
        "card_tiles",
        3,
    )


def test_a_child_drivers_relay_reaches_the_parents_metrics(registry: CollectorRegistry) -> None:
    import io

    from streaming.job_metrics import Relay, follow_relay

    pipe = io.StringIO()
    relay = Relay(pipe)
    relay.progress(progress(0, name="history"))
    relay.dead_letters("history")(3)
    relay.progress(progress(1, name="history"))
    relay.dead_letters("history")(2)
    seen: list[Any] = []
    lines = [*pipe.getvalue().splitlines(keepends=True), "\n", "not json\n", '{"other": 1}\n']
    follow_relay(lines, StreamMetrics(registry), seen.append)
    assert [p["batchId"] for p in seen] == [0, 1]
    assert value(registry, "fraudstream_stream_dead_letters_total", "history") == 5
    assert value(registry, "fraudstream_stream_batches_total", "history") == 2
    assert value(registry, "fraudstream_stream_state_rows", "history") == 7


def test_an_idle_query_of_the_child_reaches_the_parent_as_such(registry: CollectorRegistry) -> None:
    import io

    from streaming.job_metrics import Relay, follow_relay

    pipe = io.StringIO()
    relay = Relay(pipe)
    relay.idle("sessions")
    relay.progress(progress(0, name="sessions"))
    lines = [*pipe.getvalue().splitlines(keepends=True), '{"idle": {}}\n', '{"idle": {"query": 3}}\n']
    idle: list[str] = []
    seen: list[Any] = []
    follow_relay(lines, StreamMetrics(registry), seen.append, idle.append)
    assert idle == ["sessions"], "a malformed idle line is skipped, not passed on"
    assert [p["name"] for p in seen] == ["sessions"]
    assert value(registry, "fraudstream_stream_batches_total", "sessions") == 1


def test_the_exporter_relays_an_idle_query_by_name() -> None:
    import io
    from types import SimpleNamespace

    from streaming.job_metrics import ProgressExporter, Relay

    pipe = io.StringIO()
    exporter = ProgressExporter(StreamMetrics(CollectorRegistry()), Relay(pipe))
    exporter.onQueryStarted(SimpleNamespace(id="q-7", name="merchant_features"))
    exporter.onQueryIdle(SimpleNamespace(id="q-7"))
    exporter.onQueryIdle(SimpleNamespace(id="q-unknown"))
    assert [json.loads(line) for line in pipe.getvalue().splitlines()] == [
        {"idle": {"query": "merchant_features"}}
    ]
