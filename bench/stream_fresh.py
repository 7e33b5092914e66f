"""The stream bench's freshness phase: each rate asked, in order, drained between, one result a rate.

At each rate a child process sends for FRESH_S seconds, and every swipe is timed from its send
until the scorer's merged table covers it (`FeatureWatcher`). Each rate is also a held rate, judged
like the others. `rate_figures` turns what one rate measured into its result, without I/O.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Console

from bench.measure import percentile, ratio
from bench.stream_feed import ChildFeed, FeatureWatcher, SendLog, SwipeFeed
from bench.stream_lag import Lag, Step
from bench.stream_report import fresh_line, step_line

FRESH_S = 60.0
SEEN_WAIT_S = 60.0  # after sending, how long the watcher may take to see the last swipes
DRAIN_WAIT_S = 120.0


def measure_rates(
    lag: Lag,
    feed: SwipeFeed,
    bootstrap: str,
    watcher: FeatureWatcher,
    rates: Sequence[float],
    console: Console,
) -> list[tuple[dict[str, Any], Step]]:
    """Each rate's freshness and judgement, in the order given, the backlog worked off between them."""
    results: list[tuple[dict[str, Any], Step]] = []
    for i, rate in enumerate(rates):
        if i:
            # Under two seconds of the slower rate's swipes left: one rate's backlog is not the next's.
            below = int(2 * min(rate, rates[i - 1]))
            with console.status(f"draining the backlog below {below:,} swipes"):
                drained = lag.drain(DRAIN_WAIT_S, below=below)
            if not drained:
                console.print(
                    f"  backlog NOT below {below:,} in {DRAIN_WAIT_S:g} s; measuring {rate:g}/s anyway"
                )
        results.append(_one_rate(lag, feed, bootstrap, watcher, rate, console))
    return results


def _one_rate(
    lag: Lag, feed: SwipeFeed, bootstrap: str, watcher: FeatureWatcher, rate: float, console: Console
) -> tuple[dict[str, Any], Step]:
    # A log of its own: swipes of an earlier rate still unseen must not count at this one.
    log = SendLog()
    watcher.log = log
    merges, merge_s = watcher.merges, watcher.merge_s
    next_sample = [0.0]

    def sample() -> None:
        if time.perf_counter() >= next_sample[0]:
            lag.sample()
            next_sample[0] = time.perf_counter() + 0.5

    with console.status(f"freshness: {rate:g} swipes/s for {FRESH_S:g} s from another process"):
        before = feed.sent
        t0 = time.perf_counter()
        ChildFeed(feed, bootstrap, log).run(rate, FRESH_S, sample)
        t1 = time.perf_counter()
        step = lag.judge(rate, t0, t1, feed.sent - before)
        deadline = time.monotonic() + SEEN_WAIT_S
        while log.unseen and time.monotonic() < deadline:
            lag.sample()
            time.sleep(0.5)
        done = time.perf_counter()
    batches = {name: [b for b in runs if t0 <= b["t"] <= done] for name, runs in lag.batches.items()}
    fresh = rate_figures(
        rate, log, step, batches, merges=watcher.merges - merges, merge_s=watcher.merge_s - merge_s
    )
    console.print(fresh_line(fresh))
    console.print(step_line(step))
    for name, mean in fresh["mean_phases_ms"].items():
        console.print(f"    {name} mean ms per batch with rows: {mean}")
    return fresh, step


def rate_figures(
    rate: float,
    log: SendLog,
    step: Step,
    batches: dict[str, list[dict[str, Any]]],
    *,
    merges: int,
    merge_s: float,
) -> dict[str, Any]:
    """One rate's result: latencies, what the sender achieved, each query's batches, the merges, the step.

    `batches`: each query's batches of the rate (from its start until the last swipe was seen);
    `merges` and `merge_s`: the watcher's merges and their seconds over the same time.
    """
    lat_ms = [s * 1000 for s in log.latencies_s]
    published = log.published_per_s
    return {
        "rate": rate,
        "published_per_s": _figure(published, 1),
        "published_vs_asked": _figure(ratio(published, rate), 4),
        "tracked": log.tracked,
        "seen": len(lat_ms),
        "p50_ms": round(percentile(lat_ms, 50), 1),
        "p99_ms": round(percentile(lat_ms, 99), 1),
        "max_ms": round(max(lat_ms, default=math.nan), 1),
        "mean_batch_s": {name: _mean_batch_s(runs) for name, runs in batches.items()},
        "mean_phases_ms": {name: mean_phases(runs) for name, runs in batches.items()},
        "merges": merges,
        "merge_us": round(1e6 * merge_s / merges, 1) if merges else None,
        "step": asdict(step),
    }


def mean_phases(batches: list[dict[str, Any]]) -> dict[str, int]:
    """The mean of each progress phase (durationMs keys, stateCommit) over the batches that had rows."""
    with_rows = [b for b in batches if b["rows"] > 0]
    keys = sorted({k for b in with_rows for k in b.get("phases_ms", {})})
    return {k: round(sum(b["phases_ms"].get(k, 0) for b in with_rows) / len(with_rows)) for k in keys}


def _mean_batch_s(runs: list[dict[str, Any]]) -> float | None:
    return round(sum(b["duration_ms"] for b in runs) / len(runs) / 1000, 2) if runs else None


def _figure(value: float, digits: int) -> float | None:
    """None, not NaN, in the JSON for a figure there was nothing to compute from."""
    return None if math.isnan(value) else round(value, digits)
