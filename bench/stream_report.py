"""What the stream bench reports: its figures from the phases' results, and the tables they print as.

Pure: no Kafka, no Spark. `render` reads the dict that `bench.stream.run` returns and writes as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Group

from bench import output
from bench.measure import ratio
from bench.stream_lag import HOT_QUERY, Step

NOT_MEASURED = "not measured (--no-drain)"


def figures(
    fresh: Sequence[tuple[dict[str, Any], Step]], drain: dict[str, Any] | None, held: Sequence[Step]
) -> dict[str, Any]:
    """The phases' figures: `freshness` stays the first rate's (as before there were several), and
    `freshness_by_rate` holds every rate's. Without a drain (`--no-drain`) there were no held rates
    either, and the sustained rates are None: not measured, not 0.
    """
    if not fresh:
        raise ValueError("the freshness phase needs at least one rate")
    steps = [step for _, step in fresh] + list(held)
    measured = drain is not None
    return {
        "freshness": fresh[0][0],
        "freshness_by_rate": [result for result, _ in fresh],
        "drain_measured": measured,
        "drain": drain,
        "steps": [asdict(s) for s in steps],
        "max_sustained_rate": max((s.rate for s in steps if s.kept_up), default=0.0) if measured else None,
        "max_sustained_rate_hot": (
            max((s.rate for s in steps if s.hot_kept_up), default=0.0) if measured else None
        ),
    }


def raw_ratios(result: dict[str, Any], raw_rate: float) -> dict[str, float | None]:
    """The drain and sustained rates over the raw read's; None where the figure was not measured."""
    drain = result["drain"]
    return {
        "ratio_sustained_vs_raw": _ratio(result["max_sustained_rate"], raw_rate),
        "ratio_drain_vs_raw": _ratio(drain["rate"] if drain else None, raw_rate),
    }


def step_line(step: Step) -> str:
    return (
        f"  {step.rate:,.0f}/s for {step.seconds:.0f} s: {'kept up' if step.kept_up else 'fell behind'} "
        f"(card_tiles {'kept up' if step.hot_kept_up else 'fell behind'}) "
        f"(slowest {step.limiting_query}: backlog {step.lag_mid} -> {step.lag_end}, "
        f"{step.batches} batches of {step.mean_batch_s} s)"
    )


def fresh_line(fresh: dict[str, Any]) -> str:
    published = fresh.get("published_per_s")
    return (
        f"  freshness (publish -> scorer's table) at {fresh['rate']:g}/s "
        f"(published {'-' if published is None else f'{published:,.1f}'}/s): p50 {fresh['p50_ms']} ms, "
        f"p99 {fresh['p99_ms']} ms, max {fresh['max_ms']} ms "
        f"({fresh['seen']:,} of {fresh['tracked']:,} swipes seen); mean batch s {fresh['mean_batch_s']}; "
        f"{fresh['merges']:,} merges, {_or_dash(fresh['merge_us'], 1)} µs a merge"
    )


FRESHNESS_COLUMNS = (
    "swipes/s asked",
    "published/s",
    "x asked",
    "x raw read",
    "p50 ms",
    "p99 ms",
    "max ms",
    "seen / tracked",
    "kept up: all / card_tiles",
    "card_tiles mean batch s",
    "merges",
    "µs a merge",
)


def freshness_rows(by_rate: Sequence[dict[str, Any]], raw_rate: float) -> list[list[str]]:
    """One row per rate, in the order run. Figures a result lacks (one written before) print as -."""
    rows = []
    for fresh in by_rate:
        published = fresh.get("published_per_s")
        step = fresh.get("step")
        hot_batch = fresh.get("mean_batch_s", {}).get(HOT_QUERY)
        rows.append(
            [
                f"{fresh['rate']:,.0f}",
                _or_dash(published, 1),
                _or_dash(fresh.get("published_vs_asked"), 3),
                _or_dash(_ratio(published, raw_rate), 4),
                output.fmt(fresh["p50_ms"], 1),
                output.fmt(fresh["p99_ms"], 1),
                output.fmt(fresh["max_ms"], 1),
                f"{fresh['seen']:,} / {fresh['tracked']:,}",
                "-" if step is None else f"{_yes(step['kept_up'])} / {_yes(step.get('hot_kept_up'))}",
                _or_dash(hot_batch, 2),
                f"{fresh['merges']:,}" if "merges" in fresh else "-",
                _or_dash(fresh.get("merge_us"), 1),
            ]
        )
    return rows


def ladder_rows(steps: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            f"{s['rate']:,.0f}",
            _yes(s["kept_up"]),
            _yes(s.get("hot_kept_up")),
            s["limiting_query"],
            "-" if s["lag_mid"] is None else f"{s['lag_mid']:,}",
            "-" if s["lag_end"] is None else f"{s['lag_end']:,}",
            f"{s['batches']} x {s['mean_batch_s']} s",
            output.fmt(s["processed_per_s"]),
        ]
        for s in steps
    ]


def summary_rows(result: dict[str, Any]) -> list[list[str]]:
    """The raw read, then each rate it bounds, with its ratio; `not measured` rows without a drain."""
    raw = result["raw_consume"]["records_per_s"]
    drain = result["drain"]
    rows = [["raw consume (records/s)", output.fmt(raw), "1"]]
    if drain is None:
        return [
            *rows,
            ["drain rate of a backlog (swipes/s)", NOT_MEASURED, "-"],
            ["max sustained swipes/s (held, backlog not growing)", NOT_MEASURED, "-"],
        ]
    hot_sustained = result.get("max_sustained_rate_hot", 0.0)
    hot_drain = drain["rate_per_query"].get(HOT_QUERY, 0.0)
    return [
        *rows,
        [
            f"drain rate of {drain['backlog']:,} backlog (swipes/s)",
            output.fmt(drain["rate"]),
            f"{ratio(drain['rate'], raw):.4f}",
        ],
        [
            "max sustained swipes/s (held, backlog not growing)",
            output.fmt(result["max_sustained_rate"]),
            f"{ratio(result['max_sustained_rate'], raw):.4f}",
        ],
        [
            "max sustained by card_tiles, the others running (swipes/s)",
            output.fmt(hot_sustained),
            f"{ratio(hot_sustained, raw):.4f}",
        ],
        [
            "drain of the backlog by card_tiles (swipes/s)",
            output.fmt(hot_drain),
            f"{ratio(hot_drain, raw):.4f}",
        ],
    ]


def render(result: dict[str, Any]) -> Group:
    where = f"feature job on {result['spark_master']}, trigger {result['trigger_s']:g} s"
    by_rate = result.get("freshness_by_rate") or [result["freshness"]]
    only = "" if result.get("drain_measured", True) else " (the freshness rates only)"
    ladder = output.table(
        f"{where}: held rates{only}",
        [
            "swipes/s",
            "kept up",
            "card_tiles kept up",
            "slowest query",
            "backlog mid",
            "backlog end",
            "its batches",
            "its rows/s busy",
        ],
        ladder_rows(result["steps"]),
    )
    freshness = output.table(
        f"{where}: freshness, publish -> the scorer's merged table, one rate after the other",
        FRESHNESS_COLUMNS,
        freshness_rows(by_rate, result["raw_consume"]["records_per_s"]),
    )
    summary = output.table(
        "stream bench: ratios against one raw confluent-kafka consumer of the same topic",
        ["figure", "value", "ratio vs raw read"],
        summary_rows(result),
    )
    return Group(ladder, freshness, summary)


def _ratio(measured: float | None, baseline: float) -> float | None:
    return None if measured is None else round(ratio(measured, baseline), 5)


def _or_dash(value: float | None, digits: int) -> str:
    return "-" if value is None else output.fmt(value, digits)


def _yes(flag: bool | None) -> str:
    return "yes" if flag else "no"
