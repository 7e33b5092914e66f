"""The stream bench's report: the figures of its phases, and one printed row per freshness rate."""

from __future__ import annotations

import io
import math
from dataclasses import asdict
from typing import Any

import pytest
from rich.console import Console

from bench.stream_lag import Step
from bench.stream_report import NOT_MEASURED, figures, freshness_rows, raw_ratios, render, summary_rows


def step(rate: float, kept_up: bool = True, hot_kept_up: bool = True) -> Step:
    return Step(
        rate=rate,
        sent=int(rate * 60),
        seconds=60.0,
        kept_up=kept_up,
        limiting_query="history",
        lag_mid=10,
        lag_end=12,
        batches=5,
        mean_batch_s=1.5,
        processed_per_s=4000.0,
        hot_kept_up=hot_kept_up,
    )


def fresh(rate: float, **over: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "rate": rate,
        "published_per_s": rate * 0.999,
        "published_vs_asked": 0.999,
        "tracked": int(rate * 60) - 1,
        "seen": int(rate * 60) - 1,
        "p50_ms": 1020.0,
        "p99_ms": 1710.0,
        "max_ms": 1920.0,
        "mean_batch_s": {"card_tiles": 0.62, "history": 3.1},
        "merges": 5000,
        "merge_us": 191.4,
        "step": asdict(step(rate)),
    }
    return result | over


DRAIN = {
    "backlog": 30_000,
    "seconds": {"card_tiles": 10.0},
    "rate_per_query": {"card_tiles": 3000.0},
    "rate": 1500.0,
}


@pytest.mark.parametrize(
    ("rates", "drain", "held", "sustained", "hot_sustained"),
    [
        # rates (kept up, card_tiles kept up) | drain | held rates           | max sustained | card_tiles
        ([(100, True, True)], DRAIN, [step(750), step(1200, False)], 750.0, 1200.0),
        ([(100, True, True), (1000, False, True)], DRAIN, [step(750, False, False)], 100.0, 1000.0),
        ([(100, False, False)], DRAIN, [step(750, False, False)], 0.0, 0.0),  # measured: none kept up
        ([(100, True, True), (1000, True, True)], None, [], None, None),  # --no-drain: not measured
    ],
)
def test_figures_keep_the_first_rate_as_freshness_and_say_when_the_held_rates_were_not_measured(
    rates: list[tuple[float, bool, bool]],
    drain: dict[str, Any] | None,
    held: list[Step],
    sustained: float | None,
    hot_sustained: float | None,
) -> None:
    phases = [(fresh(r), step(r, ok, hot)) for r, ok, hot in rates]
    result = figures(phases, drain, held)
    assert result["freshness"] is phases[0][0]  # what readers of one rate read, unchanged
    assert [f["rate"] for f in result["freshness_by_rate"]] == [r for r, _, _ in rates]
    assert [s["rate"] for s in result["steps"]] == [r for r, _, _ in rates] + [s.rate for s in held]
    assert result["drain_measured"] is (drain is not None)
    assert (result["max_sustained_rate"], result["max_sustained_rate_hot"]) == (sustained, hot_sustained)


def test_figures_need_a_rate() -> None:
    with pytest.raises(ValueError, match="at least one rate"):
        figures([], DRAIN, [])


@pytest.mark.parametrize(
    ("drain", "sustained", "raw", "expected"),
    [
        (DRAIN, 750.0, 100_000.0, (0.0075, 0.015)),
        (None, None, 100_000.0, (None, None)),  # --no-drain: no ratio, rather than 0
        (DRAIN, 0.0, 100_000.0, (0.0, 0.015)),  # measured, nothing sustained: a real 0
    ],
)
def test_ratios_against_the_raw_read_only_where_there_is_a_figure(
    drain: dict[str, Any] | None,
    sustained: float | None,
    raw: float,
    expected: tuple[float | None, float | None],
) -> None:
    ratios = raw_ratios({"drain": drain, "max_sustained_rate": sustained}, raw)
    assert (ratios["ratio_sustained_vs_raw"], ratios["ratio_drain_vs_raw"]) == expected


def test_no_raw_read_gives_no_ratio() -> None:
    ratios = raw_ratios({"drain": DRAIN, "max_sustained_rate": 750.0}, 0.0)
    assert math.isnan(ratios["ratio_drain_vs_raw"] or 0.0)


@pytest.mark.parametrize(
    ("result", "row"),
    [
        (
            fresh(100),
            ["100", "99.9", "0.999", "0.0010", "1,020.0", "1,710.0", "1,920.0", "5,999 / 5,999",
             "yes / yes", "0.62", "5,000", "191.4"],
        ),
        (
            fresh(
                1000,
                seen=59_000,
                step=asdict(step(1000, kept_up=False)),
                mean_batch_s={"card_tiles": 1.61},
                merge_us=None,
            ),
            ["1,000", "999.0", "0.999", "0.0100", "1,020.0", "1,710.0", "1,920.0", "59,000 / 59,999",
             "no / yes", "1.61", "5,000", "-"],
        ),
        (
            # nothing reached the child's log: no publish rate, no latency
            fresh(5000, published_per_s=None, published_vs_asked=None, seen=0, p50_ms=math.nan,
                  p99_ms=math.nan, max_ms=math.nan, mean_batch_s={"card_tiles": None}),
            ["5,000", "-", "-", "-", "-", "-", "-", "0 / 299,999", "yes / yes", "-", "5,000", "191.4"],
        ),
        (
            # a result written before several rates: no publish rate, no step, merges since warm-up
            {"rate": 100.0, "tracked": 5999, "seen": 5999, "p50_ms": 2480.0, "p99_ms": 6970.0,
             "max_ms": 8000.0, "mean_batch_s": {"card_tiles": 1.3}, "merges": 20000, "merge_us": 250.0},
            ["100", "-", "-", "-", "2,480.0", "6,970.0", "8,000.0", "5,999 / 5,999", "-", "1.30", "20,000",
             "250.0"],
        ),
    ],
)  # fmt: skip
def test_a_freshness_row_per_rate(result: dict[str, Any], row: list[str]) -> None:
    assert freshness_rows([result], raw_rate=100_000.0) == [row]


def test_freshness_rows_keep_the_order_the_rates_ran_in() -> None:
    rows = freshness_rows([fresh(1000), fresh(100), fresh(1000)], raw_rate=100_000.0)
    assert [r[0] for r in rows] == ["1,000", "100", "1,000"]


def test_the_summary_says_not_measured_without_a_drain() -> None:
    result = {"raw_consume": {"records_per_s": 100_000.0}, "drain": None, "max_sustained_rate": None}
    assert summary_rows(result) == [
        ["raw consume (records/s)", "100,000", "1"],
        ["drain rate of a backlog (swipes/s)", NOT_MEASURED, "-"],
        ["max sustained swipes/s (held, backlog not growing)", NOT_MEASURED, "-"],
    ]


def test_the_summary_gives_each_measured_rate_against_the_raw_read() -> None:
    result = {
        "raw_consume": {"records_per_s": 100_000.0},
        "drain": DRAIN,
        "max_sustained_rate": 750.0,
        "max_sustained_rate_hot": 1200.0,
    }
    assert [row[1:] for row in summary_rows(result)] == [
        ["100,000", "1"],
        ["1,500", "0.0150"],
        ["750", "0.0075"],
        ["1,200", "0.0120"],
        ["3,000", "0.0300"],
    ]


def test_render_prints_one_freshness_row_per_rate() -> None:
    phases = [(fresh(100), step(100)), (fresh(1000), step(1000, kept_up=False))]
    result = figures(phases, None, []) | {
        "raw_consume": {"records_per_s": 100_000.0},
        "spark_master": "local[2]",
        "trigger_s": 1.0,
    }
    out = io.StringIO()
    Console(file=out, width=220).print(render(result))
    printed = out.getvalue()
    assert "5,999 / 5,999" in printed and "59,999 / 59,999" in printed
    assert printed.count(NOT_MEASURED) == 2
    assert "held rates (the freshness rates only)" in printed
