"""The tiles bench's rate: steady batches only, read from the queries' own progress."""

from __future__ import annotations

from typing import Any

import pytest

from bench.tiles import render, steady_rate


def progress(rows: int, ms: int) -> dict[str, Any]:
    return {"numInputRows": rows, "durationMs": {"triggerExecution": ms}}


@pytest.mark.parametrize(
    ("batches", "expected_rate", "expected_count"),
    [
        # the first full batch pays planning and the JIT: it is left out
        ([progress(100, 9_000), progress(100, 1_000), progress(100, 1_000)], 100.0, 2),
        # the short last batch and the empty ones are not steady batches either
        ([progress(100, 9_000), progress(100, 2_000), progress(40, 100), progress(0, 5)], 50.0, 1),
        # a batch within 10 % of the cap is full (the topic's partitions split the cap unevenly)
        ([progress(95, 1), progress(92, 1_000)], 92.0, 1),
        ([progress(100, 9_000)], 0.0, 0),
        ([], 0.0, 0),
    ],
)
def test_steady_rate(batches: list[dict[str, Any]], expected_rate: float, expected_count: int) -> None:
    assert steady_rate(batches, 100) == (pytest.approx(expected_rate), expected_count)


def test_the_table_shows_each_run_against_the_parse_and_the_raw_read() -> None:
    run = {
        "steady_rate": 5000.0,
        "jvm_cpu_us_per_swipe": 120.0,
        "ratio_vs_parse": 0.25,
        "ratio_vs_raw": 0.031,
    }
    result = {
        "swipes": 300_000,
        "batch": 100_000,
        "raw_consume": {"records_per_s": 160_000.0},
        "runs": [
            dict(run, name="parse", steady_rate=20_000.0, ratio_vs_parse=1.0),
            dict(run, name="card_tiles"),
        ],
    }
    table = render(result)
    cells = [list(column.cells) for column in table.columns]
    assert cells[0] == ["raw read, one confluent-kafka consumer", "parse", "card_tiles"]
    assert cells[1] == ["160,000", "20,000", "5,000"]
    assert cells[3][2] == "0.250"
