"""`fraudstream-bench stream`: the real feature job on local[2] against a real embedded broker.

Phases, in one run: warm-up; freshness at a fixed moderate rate; the drain rate (a backlog dumped
at once, timed until every query has worked it off: the ceiling); 50 % and 80 % of that rate held
for four micro-batches each, judged on whether the backlog grows (the sustained rate); then, with
Spark stopped, one confluent-kafka consumer reads the swipes topic as fast as it can: the physical
limit the ratios refer to.
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
from bench.stream_feed import ChildFeed, FeatureWatcher, SendLog, SwipeFeed, swipe_pool
from bench.stream_lag import Lag, RelayedQuery, Step, relayed_queries
from streaming.settings import StreamSettings

WARMUP_RATE, WARMUP_S = 200.0, 20.0
FRESH_S = 60.0
RAW_READ_RECORDS = 200_000


def run(
    *,
    fresh_rate: float = 100.0,
    backlog: int = 30_000,
    one_driver: bool = False,
    json_path: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """`one_driver`: every query in one driver (FRAUDSTREAM_HISTORY_APART=false), the shape before."""
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
            result = _measure(settings, pool, fresh_rate, backlog, console)
            with console.status("reading the whole swipes topic with one raw consumer"):
                records, seconds = raw_consume_rate(bootstrap, settings.topic_swipes)
    raw_rate = records / seconds if seconds > 0 else 0.0
    result.update(
        machine=info,
        raw_consume={"records": records, "seconds": round(seconds, 3), "records_per_s": round(raw_rate, 1)},
        ratio_sustained_vs_raw=round(ratio(result["max_sustained_rate"], raw_rate), 5),
        ratio_drain_vs_raw=round(ratio(result["drain"]["rate"], raw_rate), 5),
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
    backlog: int,
    console: Console,
) -> dict[str, Any]:
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
    log = SendLog()
    watcher = FeatureWatcher(settings.bootstrap, settings.topic_tiles, log, settings.feature_config)
    watcher.start()
    # Every query reads the swipes topic (history and merchant_features other topics too: Lag counts swipes).
    lag = Lag(queries, settings.topic_swipes, feed)
    try:
        console.print(f"  warm-up: {WARMUP_RATE:g} swipes/s for {WARMUP_S:g} s, then draining")
        with console.status("warm-up"):
            lag.pace(WARMUP_RATE, WARMUP_S)
            drained = lag.drain(180, below=int(WARMUP_RATE * 2))
        console.print(f"  warm-up done; backlog {'drained' if drained else 'NOT drained in 180 s'}")
        fresh, fresh_step = _freshness(
            lag, ChildFeed(feed, settings.bootstrap, log), log, fresh_rate, console
        )
        fresh["merges"], fresh["merge_us"] = (
            watcher.merges,
            round(1e6 * watcher.merge_s / max(watcher.merges, 1), 1),
        )
        lag.drain(120, below=int(fresh_rate * 2))
        drain = _drain_rate(lag, feed, backlog, console)
        steps = [fresh_step, *_confirm(lag, feed, drain, console)]
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
    sustained = [s.rate for s in steps if s.kept_up]
    hot_sustained = [s.rate for s in steps if s.hot_kept_up]
    return {
        "bench": "stream",
        "freshness": fresh,
        "drain": drain,
        "steps": [asdict(s) for s in steps],
        "max_sustained_rate": max(sustained, default=0.0),
        "max_sustained_rate_hot": max(hot_sustained, default=0.0),
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
        _print_step(console, step)
    return steps


def _print_step(console: Console, step: Step) -> None:
    console.print(
        f"  {step.rate:,.0f}/s for {step.seconds:.0f} s: {'kept up' if step.kept_up else 'fell behind'} "
        f"(card_tiles {'kept up' if step.hot_kept_up else 'fell behind'}) "
        f"(slowest {step.limiting_query}: backlog {step.lag_mid} -> {step.lag_end}, "
        f"{step.batches} batches of {step.mean_batch_s} s)"
    )


def _freshness(
    lag: Lag, child: ChildFeed, log: SendLog, rate: float, console: Console
) -> tuple[dict[str, Any], Step]:
    """Send at `rate` for FRESH_S seconds from another process, timing each swipe until the scorer's
    table (merged from the tiles) covers it.

    The phase is also a held rate, judged like the others.
    """
    next_sample = [0.0]

    def sample() -> None:
        if time.perf_counter() >= next_sample[0]:
            lag.sample()
            next_sample[0] = time.perf_counter() + 0.5

    with console.status(f"freshness: {rate:g} swipes/s for {FRESH_S:g} s from another process"):
        before = child.feed.sent
        t0 = time.perf_counter()
        child.run(rate, FRESH_S, sample)
        t1 = time.perf_counter()
        step = lag.judge(rate, t0, t1, child.feed.sent - before)
        deadline = time.monotonic() + 60
        while log.unseen and time.monotonic() < deadline:
            lag.sample()
            time.sleep(0.5)
    lat_ms = [s * 1000 for s in log.latencies_s]
    batches = {name: [b for b in runs if t0 <= b["t"] <= t1 + 60] for name, runs in lag.batches.items()}
    phases = {name: mean_phases(runs) for name, runs in batches.items()}
    fresh: dict[str, Any] = {
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
        "mean_phases_ms": phases,
    }
    console.print(
        f"  freshness (publish -> scorer's table) at {rate:g}/s: p50 {fresh['p50_ms']} ms, "
        f"p99 {fresh['p99_ms']} ms "
        f"({fresh['seen']:,} of {fresh['tracked']:,} swipes seen); mean batch s {fresh['mean_batch_s']}"
    )
    _print_step(console, step)
    for name, mean in phases.items():
        console.print(f"    {name} mean ms per batch with rows: {mean}")
    return fresh, step


def mean_phases(batches: list[dict[str, Any]]) -> dict[str, int]:
    """The mean of each progress phase (durationMs keys, stateCommit) over the batches that had rows."""
    with_rows = [b for b in batches if b["rows"] > 0]
    keys = sorted({k for b in with_rows for k in b.get("phases_ms", {})})
    return {k: round(sum(b["phases_ms"].get(k, 0) for b in with_rows) / len(with_rows)) for k in keys}


def render(result: dict[str, Any]) -> Any:
    rows = [
        [
            f"{s['rate']:,.0f}",
            "yes" if s["kept_up"] else "no",
            "yes" if s.get("hot_kept_up") else "no",
            s["limiting_query"],
            "-" if s["lag_mid"] is None else f"{s['lag_mid']:,}",
            "-" if s["lag_end"] is None else f"{s['lag_end']:,}",
            f"{s['batches']} x {s['mean_batch_s']} s",
            output.fmt(s["processed_per_s"]),
        ]
        for s in result["steps"]
    ]
    ladder = output.table(
        f"feature job on {result['spark_master']}, trigger {result['trigger_s']:g} s: held rates",
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
                f"drain rate of {result['drain']['backlog']:,} backlog (swipes/s)",
                output.fmt(result["drain"]["rate"]),
                f"{result['ratio_drain_vs_raw']:.4f}",
            ],
            [
                "max sustained swipes/s (held, backlog not growing)",
                output.fmt(result["max_sustained_rate"]),
                f"{result['ratio_sustained_vs_raw']:.4f}",
            ],
            [
                "max sustained by card_tiles, the others running (swipes/s)",
                output.fmt(result.get("max_sustained_rate_hot", 0.0)),
                f"{ratio(result.get('max_sustained_rate_hot', 0.0), raw):.4f}",
            ],
            [
                "drain of the backlog by card_tiles (swipes/s)",
                output.fmt(result["drain"]["rate_per_query"].get("card_tiles", 0.0)),
                f"{ratio(result['drain']['rate_per_query'].get('card_tiles', 0.0), raw):.4f}",
            ],
            [f"freshness p50 ms @{fresh['rate']:g}/s", output.fmt(fresh["p50_ms"], 1), ""],
            [f"freshness p99 ms @{fresh['rate']:g}/s", output.fmt(fresh["p99_ms"], 1), ""],
        ],
    )
    from rich.console import Group

    return Group(ladder, summary)
