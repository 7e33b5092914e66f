"""One freshness rate's figures: latencies from the log, the sender's rate, the phase's batches and merges."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.stream_feed import SendLog
from bench.stream_fresh import mean_phases, rate_figures
from tests.unit.bench.test_stream_report import step

CARD = "ct_" + "ab" * 16


def batch(ms: int, rows: int = 10, **phases: int) -> dict[str, Any]:
    return {"t": 0.0, "rows": rows, "duration_ms": ms, "phases_ms": phases}


def sent_log(latencies_s: list[float], every_s: float) -> SendLog:
    """Swipes sent `every_s` apart, each seen `latency` after its send."""
    log = SendLog()
    for i, latency in enumerate(latencies_s):
        log.sent(CARD, event_t=float(i), wall=1000.0 + i * every_s)
        log.covered(CARD, as_of=float(i), wall=1000.0 + i * every_s + latency)
    return log


def test_a_rate_s_figures() -> None:
    log = sent_log([1.0, 2.0, 3.0, 4.0, 5.0], every_s=0.01)  # 5 swipes in 0.04 s: 100/s
    log.sent(CARD, event_t=99.0, wall=1000.04)  # sent, never seen
    batches = {"card_tiles": [batch(600, addBatch=400), batch(800, addBatch=600)], "history": []}
    fresh = rate_figures(100.0, log, step(100.0), batches, merges=4, merge_s=0.001)
    assert (fresh["tracked"], fresh["seen"]) == (6, 5)
    assert (fresh["p50_ms"], fresh["p99_ms"], fresh["max_ms"]) == (3000.0, 5000.0, 5000.0)
    assert fresh["published_per_s"] == pytest.approx(125.0)  # 6 sends, 5 gaps over 0.04 s
    assert fresh["published_vs_asked"] == pytest.approx(1.25)
    assert fresh["mean_batch_s"] == {"card_tiles": 0.7, "history": None}
    assert fresh["mean_phases_ms"] == {"card_tiles": {"addBatch": 500}, "history": {}}
    assert (fresh["merges"], fresh["merge_us"]) == (4, 250.0)
    assert fresh["step"]["rate"] == 100.0


def test_nothing_sent_or_merged_gives_no_figure_rather_than_zero() -> None:
    fresh = rate_figures(100.0, SendLog(), step(100.0), {"card_tiles": []}, merges=0, merge_s=0.0)
    assert (fresh["published_per_s"], fresh["published_vs_asked"], fresh["merge_us"]) == (None, None, None)
    assert (fresh["seen"], fresh["tracked"]) == (0, 0)
    assert math.isnan(fresh["p99_ms"])


def test_mean_phases_counts_only_batches_with_rows() -> None:
    runs = [
        batch(900, addBatch=700, stateCommit=50),
        batch(100, rows=0, addBatch=10),
        batch(500, addBatch=300),
    ]
    assert mean_phases(runs) == {"addBatch": 500, "stateCommit": 25}
