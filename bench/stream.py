"""`fraudstream bench stream`: the real feature job on local[2] against a real embedded broker.

Phases, in one run: warm-up; freshness at a fixed moderate rate; a ladder of produce rates
(x1.5 per step) until the job stops keeping up; then, with Spark stopped, one confluent-kafka
consumer reads the whole swipes topic as fast as it can: the physical limit the ratios refer to.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import machine, output
from bench.kafka import embedded_broker, fresh_name, raw_consume_rate
from bench.measure import percentile, ratio
from bench.stream_feed import FeatureWatcher, SendLog, SwipeFeed, swipe_pool
from bench.stream_lag import Lag, Step
from streaming.settings import StreamSettings

WARMUP_RATE, WARMUP_S = 200.0, 20.0
FRESH_S = 30.0
RAW_READ_RECORDS = 200_000


def run(
    *,
    fresh_rate: float = 100.0,
    step_s: float = 30.0,
    start_rate: float = 50.0,
    max_rate: float = 20_000.0,
    json_path: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    console = console or Console()
    info = machine.describe()
    console.print(f"[bold]stream bench[/] on {machine.summary(info)}")
    base = StreamSettings()
    with console.status("generating the swipe pool (20,000 cards)"):
        pool = swipe_pool(base.token_key.get_secret_value().encode())
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp_name:
        tmp = Path(tmp_name)
        console.print("starting an embedded Kafka broker")
        with embedded_broker(tmp / "kafka", base.jars_dir) as bootstrap:
            settings = base.model_copy(
                update={
                    "kafka_bootstrap": bootstrap,
                    "topic_swipes": fresh_name("swipes"),
                    "topic_features": fresh_name("card-features"),
                    "topic_labels": fresh_name("labels"),
                    "topic_decisions": fresh_name("decisions"),
                    "delta_root": str(tmp / "delta"),
                    "checkpoint_root": str(tmp / "checkpoints"),
                    "metrics_port": 0,
                    "starting_offsets": "earliest",
                }
            )
            result = _measure(settings, pool, fresh_rate, step_s, start_rate, max_rate, console)
            with console.status("reading the whole swipes topic with one raw consumer"):
                records, seconds = raw_consume_rate(bootstrap, settings.topic_swipes)
    raw_rate = records / seconds if seconds > 0 else 0.0
    best = result["max_sustained_rate"]
    result.update(
        machine=info,
        raw_consume={"records": records, "seconds": round(seconds, 3), "records_per_s": round(raw_rate, 1)},
        ratio_sustained_vs_raw=round(ratio(best, raw_rate), 5),
        trigger_s=settings.trigger_s,
        spark_master=settings.spark_master,
    )
    console.print(render(result))
    output.finish(console, result, json_path)
    return result


def _measure(
    settings: StreamSettings,
    pool: list[dict[str, Any]],
    fresh_rate: float,
    step_s: float,
    start_rate: float,
    max_rate: float,
    console: Console,
) -> dict[str, Any]:
    from services.topics import ensure_stack_topics
    from streaming.job import start, stop
    from streaming.spark import build_session

    ensure_stack_topics(settings)
    with console.status("starting Spark (local[2]) and the feature job's three queries"):
        spark = build_session(
            "fraudstream-bench",
            settings.jars_dir,
            master=settings.spark_master,
            shuffle_partitions=settings.shuffle_partitions,
        )
        spark.sparkContext.setLogLevel("ERROR")
        queries = start(spark, settings)
    feed = SwipeFeed(settings.bootstrap, settings.topic_swipes, pool)
    log = SendLog()
    watcher = FeatureWatcher(settings.bootstrap, settings.topic_features, log)
    watcher.start()
    lag = Lag(queries, settings.topic_swipes, feed)
    try:
        console.print(f"  warm-up: {WARMUP_RATE:g} swipes/s for {WARMUP_S:g} s, then draining")
        with console.status("warm-up"):
            lag.pace(WARMUP_RATE, WARMUP_S)
            drained = lag.drain(180, below=int(WARMUP_RATE * 2))
        console.print(f"  warm-up done; backlog {'drained' if drained else 'NOT drained in 180 s'}")
        fresh = _freshness(lag, feed, log, fresh_rate, console)
        lag.drain(120, below=int(fresh_rate * 2))
        steps = _ladder(lag, feed, start_rate, max_rate, step_s, console)
    finally:
        watcher.stop()
        feed.flush()
        stop(queries)
        spark.stop()
    with console.status(f"topping the swipes topic up to {RAW_READ_RECORDS:,} records for the raw read"):
        while feed.sent < RAW_READ_RECORDS:
            feed.send_one()
        feed.flush()
    sustained = [s.rate for s in steps if s.kept_up]
    return {
        "bench": "stream",
        "freshness": fresh,
        "steps": [asdict(s) for s in steps],
        "max_sustained_rate": max(sustained, default=0.0),
        "first_failed_rate": min((s.rate for s in steps if not s.kept_up), default=None),
        "swipes_sent_to_job": sum(s.sent for s in steps),
    }


def _freshness(lag: Lag, feed: SwipeFeed, log: SendLog, rate: float, console: Console) -> dict[str, Any]:
    """Send at `rate` for FRESH_S seconds, timing each swipe until its card's features cover it."""
    with console.status(f"freshness: {rate:g} swipes/s for {FRESH_S:g} s"):
        feed.track = log
        t0, t1 = lag.pace(rate, FRESH_S)
        feed.track = None
        feed.flush()
        deadline = time.monotonic() + 60
        while log.unseen and time.monotonic() < deadline:
            lag.sample()
            time.sleep(0.5)
    lat_ms = [s * 1000 for s in log.latencies_s]
    batches = {name: [b for b in runs if t0 <= b["t"] <= t1 + 60] for name, runs in lag.batches.items()}
    fresh = {
        "rate": rate,
        "tracked": log.tracked,
        "seen": len(lat_ms),
        "p50_ms": round(percentile(lat_ms, 50), 1),
        "p99_ms": round(percentile(lat_ms, 99), 1),
        "max_ms": round(max(lat_ms, default=float("nan")), 1),
        "mean_batch_s": {
            name: round(sum(b["duration_ms"] for b in runs) / len(runs) / 1000, 2) if runs else None
            for name, runs in batches.items()
        },
    }
    console.print(
        f"  freshness at {rate:g}/s: p50 {fresh['p50_ms']} ms, p99 {fresh['p99_ms']} ms "
        f"({fresh['seen']:,} of {fresh['tracked']:,} swipes seen); mean batch s {fresh['mean_batch_s']}"
    )
    return fresh


def _ladder(
    lag: Lag, feed: SwipeFeed, start_rate: float, max_rate: float, step_s: float, console: Console
) -> list[Step]:
    """Double the rate until the job falls behind, then try once between the last two rates."""
    steps: list[Step] = []

    def attempt(rate: float) -> Step:
        with console.status(f"ladder: {rate:,.0f} swipes/s for {step_s:g} s"):
            before = feed.sent
            t0, t1 = lag.pace(rate, step_s)
            step = lag.judge(rate, t0, t1, feed.sent - before)
        steps.append(step)
        console.print(
            f"  {rate:,.0f}/s: {'kept up' if step.kept_up else 'fell behind'} "
            f"(slowest {step.limiting_query}: "
            f"backlog {step.lag_mid} -> {step.lag_end}, {step.batches} batches of {step.mean_batch_s} s)"
        )
        return step

    rate = start_rate
    while rate <= max_rate and attempt(rate).kept_up:
        rate *= 2
    failed = [s.rate for s in steps if not s.kept_up]
    if failed and failed[0] > start_rate:
        lag.drain(120, below=int(failed[0]))
        attempt(round((failed[0] * failed[0] / 2) ** 0.5, -1))
    return steps


def render(result: dict[str, Any]) -> Any:
    rows = [
        [
            f"{s['rate']:,.0f}",
            "yes" if s["kept_up"] else "no",
            s["limiting_query"],
            "-" if s["lag_mid"] is None else f"{s['lag_mid']:,}",
            "-" if s["lag_end"] is None else f"{s['lag_end']:,}",
            f"{s['batches']} x {s['mean_batch_s']} s",
            output.fmt(s["processed_per_s"]),
        ]
        for s in result["steps"]
    ]
    ladder = output.table(
        f"feature job on {result['spark_master']}, trigger {result['trigger_s']:g} s: rate ladder",
        [
            "swipes/s",
            "kept up",
            "slowest query",
            "backlog mid",
            "backlog end",
            "its batches",
            "its rows/s busy",
        ],
        rows,
    )
    raw = result["raw_consume"]["records_per_s"]
    fresh = result["freshness"]
    summary = output.table(
        "stream bench: ratios against one raw confluent-kafka consumer of the same topic",
        ["figure", "value", "ratio vs raw read"],
        [
            ["raw consume (records/s)", output.fmt(raw), "1"],
            [
                "max sustained swipes/s",
                output.fmt(result["max_sustained_rate"]),
                f"{result['ratio_sustained_vs_raw']:.4f}",
            ],
            [f"freshness p50 ms @{fresh['rate']:g}/s", output.fmt(fresh["p50_ms"], 1), ""],
            [f"freshness p99 ms @{fresh['rate']:g}/s", output.fmt(fresh["p99_ms"], 1), ""],
        ],
    )
    from rich.console import Group

    return Group(ladder, summary)
