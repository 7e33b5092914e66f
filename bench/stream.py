"""`fraudstream-bench stream`: the real feature job on local[2] against a real embedded broker.

Phases, in one run: warm-up; freshness at each rate asked, one after the other, drained between
(`bench.stream_fresh`); the drain rate (a backlog dumped at once, timed until every query has
worked it off: the ceiling); 50 % and 80 % of that rate held for four micro-batches each, judged on
whether the backlog grows (the sustained rate); then, with Spark stopped, one confluent-kafka
consumer reads the swipes topic as fast as it can: the physical limit the ratios refer to.
`--no-drain` skips the drain and the held rates: freshness only, and the raw read.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import machine, output
from bench.kafka import embedded_broker, fresh_name, raw_consume_rate
from bench.stream_feed import FeatureWatcher, SendLog, SwipeFeed, swipe_pool
from bench.stream_fresh import DRAIN_WAIT_S, measure_rates
from bench.stream_lag import Lag, RelayedQuery, Step, relayed_queries
from bench.stream_report import figures, raw_ratios, render, step_line
from streaming.settings import StreamSettings

WARMUP_RATE, WARMUP_S = 200.0, 20.0
RAW_READ_RECORDS = 200_000


def run(
    *,
    fresh_rates: Sequence[float] = (100.0,),
    backlog: int = 30_000,
    drain: bool = True,
    one_driver: bool = False,
    json_path: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """`fresh_rates`: the freshness phase's rates, in order; `drain=False`: no drain, no held rates.

    `one_driver`: every query in one driver (FRAUDSTREAM_HISTORY_APART=false), the shape before.
    """
    if not fresh_rates or min(fresh_rates) <= 0:
        raise ValueError(f"the freshness phase needs rates above 0 swipes/s, got {list(fresh_rates)}")
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
                    "topic_tiles": fresh_name("card-tiles"),
                    "topic_labels": fresh_name("labels"),
                    "topic_decisions": fresh_name("decisions"),
                    "delta_root": str(tmp / "delta"),
                    "checkpoint_root": str(tmp / "checkpoints"),
                    "metrics_port": 0,
                    "starting_offsets": "earliest",
                    **({"history_apart": False} if one_driver else {}),
                }
            )
            result = _measure(settings, pool, fresh_rates, backlog if drain else None, console)
            with console.status("reading the whole swipes topic with one raw consumer"):
                records, seconds = raw_consume_rate(bootstrap, settings.topic_swipes)
    raw_rate = records / seconds if seconds > 0 else 0.0
    result.update(
        machine=info,
        raw_consume={"records": records, "seconds": round(seconds, 3), "records_per_s": round(raw_rate, 1)},
        **raw_ratios(result, raw_rate),
        trigger_s=settings.trigger_s,
        spark_master=settings.spark_master,
    )
    console.print(render(result))
    output.finish(console, result, json_path)
    return result


def _measure(
    settings: StreamSettings,
    pool: list[dict[str, Any]],
    fresh_rates: Sequence[float],
    backlog: int | None,
    console: Console,
) -> dict[str, Any]:
    """The job's phases; `backlog` None: the freshness rates only, no drain and no held rates."""
    from prometheus_client import CollectorRegistry

    from foundation.topics import ensure_stack_topics
    from streaming.history_driver import HistoryDriver, history_apart
    from streaming.job import QUERY_PARTS, job_spark_conf, start, stop
    from streaming.job_metrics import StreamMetrics
    from streaming.spark import build_session

    ensure_stack_topics(settings)
    # The job as `python -m streaming.job` runs it: on a local master, the history queries in a
    # second driver at lower CPU priority (FRAUDSTREAM_HISTORY_APART), seen here through its relay.
    apart = history_apart(settings, settings.spark_master)
    history: HistoryDriver | None = None
    with console.status(f"starting Spark ({settings.spark_master}) and the feature job"):
        spark = build_session(
            "fraudstream-bench",
            settings.jars_dir,
            master=settings.spark_master,
            shuffle_partitions=settings.shuffle_partitions,
            extra=job_spark_conf(settings),
        )
        spark.sparkContext.setLogLevel("ERROR")
        queries: list[Any] = start(spark, settings, queries="hot" if apart else "all")
        if apart:
            relayed, on_progress = relayed_queries(QUERY_PARTS["history"])
            logs = Path(settings.checkpoint_path).parent / "history-driver.log"
            history = HistoryDriver(settings, StreamMetrics(CollectorRegistry()), on_progress, output=logs)
            history.start()
            queries.extend(relayed)
    shape = f"in a second driver at nice {settings.history_nice}" if apart else "in the same driver"
    console.print(f"  the history queries run {shape}")
    feed = SwipeFeed(settings.bootstrap, settings.topic_swipes, pool)
    # Each freshness rate hands the watcher a SendLog of its own.
    watcher = FeatureWatcher(settings.bootstrap, settings.topic_tiles, SendLog(), settings.feature_config)
    watcher.start()
    # Every query reads the swipes topic (history and merchant_features other topics too: Lag counts swipes).
    lag = Lag(queries, settings.topic_swipes, feed)
    try:
        console.print(f"  warm-up: {WARMUP_RATE:g} swipes/s for {WARMUP_S:g} s, then draining")
        with console.status("warm-up"):
            lag.pace(WARMUP_RATE, WARMUP_S)
            drained = lag.drain(180, below=int(WARMUP_RATE * 2))
        console.print(f"  warm-up done; backlog {'drained' if drained else 'NOT drained in 180 s'}")
        fresh = measure_rates(lag, feed, settings.bootstrap, watcher, fresh_rates, console)
        drain: dict[str, Any] | None = None
        held: list[Step] = []
        if backlog is not None:
            lag.drain(DRAIN_WAIT_S, below=int(fresh_rates[-1] * 2))
            drain = _drain_rate(lag, feed, backlog, console)
            held = _confirm(lag, feed, drain, console)
        else:
            console.print("  --no-drain: no drain and no held rates")
    finally:
        watcher.stop()
        feed.flush()
        stop([q for q in queries if not isinstance(q, RelayedQuery)])
        if history is not None:
            history.stop()
        spark.stop()
    with console.status(f"topping the swipes topic up to {RAW_READ_RECORDS:,} records for the raw read"):
        while feed.sent < RAW_READ_RECORDS:
            feed.send_one()
        feed.flush()
    return {
        "bench": "stream",
        **figures(fresh, drain, held),
        "swipes_sent_to_job": feed.sent,
        "history_apart": apart,
    }


def _drain_rate(lag: Lag, feed: SwipeFeed, backlog: int, console: Console) -> dict[str, Any]:
    """Dump `backlog` swipes at once and time each query working them off: the job's ceiling.

    With a backlog the micro-batches are as large as they get, so their fixed cost (Delta commit,
    state store checkpoint, Python worker round trip) is spread the thinnest; no sustained rate
    can exceed this. The figure is the slowest query's: every query timed reads the same topic.
    """
    with console.status(f"drain: {backlog:,} swipes at once, then waiting for every query"):
        start = time.perf_counter()
        first = feed.sent
        while feed.sent < first + backlog:
            feed.send_one()
        feed.flush()
        target = feed.sent
        done: dict[str, float] = {}
        deadline = time.monotonic() + 600
        while len(done) < len(lag.queries) and time.monotonic() < deadline:
            for name, behind in lag.sample().items():
                if behind <= 0 and name not in done:
                    done[name] = time.perf_counter() - start
            time.sleep(0.25)
    per_query = {name: round(target - first, 1) / secs for name, secs in done.items()}
    rate = min(per_query.values()) if len(done) == len(lag.queries) else 0.0
    result = {
        "backlog": target - first,
        "seconds": {n: round(v, 2) for n, v in done.items()},
        "rate_per_query": {n: round(v, 1) for n, v in per_query.items()},
        "rate": round(rate, 1),
    }
    console.print(f"  drain of {backlog:,}: {result['seconds']} s per query -> {rate:,.0f} swipes/s")
    return result


def _confirm(lag: Lag, feed: SwipeFeed, drain: dict[str, Any], console: Console) -> list[Step]:
    """Hold 50 % of the drain rate for about four micro-batches; then 80 % if the job kept up, else 25 %."""
    longest = max((b["duration_ms"] for runs in lag.batches.values() for b in runs[-3:]), default=10_000)
    step_s = min(max(30.0, 4 * longest / 1000), 90.0)
    steps: list[Step] = []
    for share in (0.5, None):
        if share is None:
            share = 0.8 if steps[-1].kept_up else 0.25
        rate = round(drain["rate"] * share, -1)
        if rate <= 0:
            break
        lag.drain(120, below=int(rate * 2))
        with console.status(f"holding {rate:,.0f} swipes/s for {step_s:.0f} s"):
            before = feed.sent
            t0, t1 = lag.pace(rate, step_s)
            step = lag.judge(rate, t0, t1, feed.sent - before)
        steps.append(step)
        console.print(step_line(step))
    return steps
