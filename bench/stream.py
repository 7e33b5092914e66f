"""`fraudstream bench stream`: the real feature job on local[2] against a real embedded broker.

Phases, in one run: warm-up; freshness at a fixed moderate rate; a ladder of produce rates
(x1.5 per step) until the job stops keeping up; then, with Spark stopped, one confluent-kafka
consumer reads the whole swipes topic as fast as it can: the physical limit the ratios refer to.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bench import machine, output
from bench.kafka import embedded_broker, fresh_name, raw_consume_rate
from bench.measure import kept_up, offsets_total, percentile, ratio
from bench.stream_feed import FeatureWatcher, SendLog, SwipeFeed, swipe_pool
from streaming.settings import StreamSettings

WARMUP_RATE, WARMUP_S = 200.0, 20.0
FRESH_S = 30.0
SAMPLE_EVERY_S = 0.5


@dataclass
class Step:
    rate: float
    sent: int
    seconds: float
    kept_up: bool
    limiting_query: str
    lag_start: int
    lag_end: int
    processed_per_s: float  # mean processedRowsPerSecond of the slowest query's batches in the step


class Lag:
    """Samples each query's backlog: swipes sent minus the end offset of its last finished batch."""

    def __init__(self, queries: list[Any], topic: str, feed: SwipeFeed) -> None:
        self.queries, self.topic, self.feed = queries, topic, feed
        self.samples: dict[str, list[tuple[float, int]]] = {q.name: [] for q in queries}
        self.batch_rates: dict[str, list[tuple[float, float]]] = {q.name: [] for q in queries}
        self._seen_batches: dict[str, int] = {}

    def sample(self) -> dict[str, int]:
        now, lags = time.perf_counter(), {}
        for q in self.queries:
            progress = q.lastProgress
            done = offsets_total(progress["sources"][0]["endOffset"], self.topic) if progress else 0
            lags[q.name] = self.feed.sent - done
            self.samples[q.name].append((now, lags[q.name]))
            if progress and self._seen_batches.get(q.name) != progress["batchId"]:
                self._seen_batches[q.name] = progress["batchId"]
                if progress["numInputRows"]:
                    self.batch_rates[q.name].append((now, float(progress["processedRowsPerSecond"])))
        return lags

    def pace(self, rate: float, seconds: float) -> tuple[float, float]:
        """Feed `rate` swipes/s for `seconds`, sampling lag; returns the (start, end) perf_counter times."""
        start, already, next_sample = time.perf_counter(), self.feed.sent, 0.0
        while (elapsed := time.perf_counter() - start) < seconds:
            self.feed.catch_up(rate, start, already)
            if elapsed >= next_sample:
                self.sample()
                next_sample += SAMPLE_EVERY_S
            time.sleep(0.002)
        return start, time.perf_counter()

    def drain(self, timeout_s: float, below: int) -> bool:
        """Wait without sending until every query's backlog is under `below` swipes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if max(self.sample().values()) <= below:
                return True
            time.sleep(SAMPLE_EVERY_S)
        return False

    def judge(self, rate: float, start: float, end: float, sent: int) -> Step:
        verdicts = {}
        for name, samples in self.samples.items():
            verdicts[name] = kept_up(samples, start, end, rate)
        worst = max(verdicts, key=lambda n: verdicts[n][2] - verdicts[n][1])
        ok = all(v[0] for v in verdicts.values())
        rates = [r for t, r in self.batch_rates[worst] if start <= t <= end]
        return Step(
            rate=rate,
            sent=sent,
            seconds=round(end - start, 2),
            kept_up=ok,
            limiting_query=worst,
            lag_start=verdicts[worst][1],
            lag_end=verdicts[worst][2],
            processed_per_s=round(sum(rates) / len(rates), 1) if rates else 0.0,
        )


def run(
    *,
    fresh_rate: float = 500.0,
    step_s: float = 20.0,
    start_rate: float = 500.0,
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
        with console.status(f"warm-up: {WARMUP_RATE:g} swipes/s for {WARMUP_S:g} s, then draining"):
            lag.pace(WARMUP_RATE, WARMUP_S)
            lag.drain(120, below=int(WARMUP_RATE * 2))
        with console.status(f"freshness: {fresh_rate:g} swipes/s for {FRESH_S:g} s"):
            feed.track = log
            lag.pace(fresh_rate, FRESH_S)
            feed.track = None
            feed.flush()
            deadline = time.monotonic() + 30
            while log.unseen and time.monotonic() < deadline:
                time.sleep(0.2)
        lat_ms = [s * 1000 for s in log.latencies_s]
        fresh = {
            "rate": fresh_rate,
            "tracked": log.tracked,
            "seen": len(lat_ms),
            "p50_ms": round(percentile(lat_ms, 50), 1),
            "p99_ms": round(percentile(lat_ms, 99), 1),
            "max_ms": round(max(lat_ms, default=float("nan")), 1),
        }
        console.print(
            f"  freshness at {fresh_rate:g}/s: p50 {fresh['p50_ms']} ms, p99 {fresh['p99_ms']} ms "
            f"({fresh['seen']:,} of {fresh['tracked']:,} swipes seen)"
        )
        lag.drain(60, below=int(fresh_rate * 2))
        steps: list[Step] = []
        rate = start_rate
        while rate <= max_rate:
            with console.status(f"ladder: {rate:,.0f} swipes/s for {step_s:g} s"):
                before = feed.sent
                t0, t1 = lag.pace(rate, step_s)
                step = lag.judge(rate, t0, t1, feed.sent - before)
            steps.append(step)
            console.print(
                f"  {rate:,.0f}/s: {'kept up' if step.kept_up else 'fell behind'} "
                f"(backlog of {step.limiting_query} {step.lag_start:,} -> {step.lag_end:,})"
            )
            if not step.kept_up:
                break
            rate = round(rate * 1.5, -1)
    finally:
        watcher.stop()
        feed.flush()
        stop(queries)
        spark.stop()
    sustained = [s.rate for s in steps if s.kept_up]
    return {
        "bench": "stream",
        "freshness": fresh,
        "steps": [asdict(s) for s in steps],
        "max_sustained_rate": max(sustained, default=0.0),
        "first_failed_rate": next((s.rate for s in steps if not s.kept_up), None),
        "swipes_sent": feed.sent,
    }


def render(result: dict[str, Any]) -> Any:
    rows = [
        [
            f"{s['rate']:,.0f}",
            "yes" if s["kept_up"] else "no",
            s["limiting_query"],
            f"{s['lag_start']:,}",
            f"{s['lag_end']:,}",
            output.fmt(s["processed_per_s"]),
        ]
        for s in result["steps"]
    ]
    ladder = output.table(
        f"feature job on {result['spark_master']}, trigger {result['trigger_s']:g} s: rate ladder",
        ["swipes/s", "kept up", "slowest query", "backlog start", "backlog end", "its processed rows/s"],
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
