"""`fraudstream-bench catchup`: a new scorer replica reading a 1M-card `card-tiles` topic, vs a raw read.

1. A real embedded broker and a compacted features topic with the stack's partition count, holding
   each card's realistic tiles (bench/catchup_records.py), produced as the job publishes them.
   A second topic holds the first 10,000 of the same records: the small table to compare against.
2. Baseline: a raw confluent-kafka consumer reads the large topic from the beginning to its end
   offsets, once before and once after the follower runs; the faster read is the baseline.
3. `FeatureFollower` + `OnlineFeatureTable`, wired as `scoring.serving.app.serve` wires them, in a fresh
   process per topic (bench/catchup_table.py): seconds until `ready`, resident memory before and
   after, and µs per `table.get` of a random known card.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Producer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import machine, output
from bench.catchup_records import card_records
from bench.catchup_table import READY_TIMEOUT_S, REPORT_PREFIX
from bench.kafka import embedded_broker, fresh_name, high_watermarks, produce_waiting, raw_consume_rate
from bench.measure import ratio
from bench.scorer_data import Template, templates
from foundation.settings import StackSettings
from foundation.topics import ensure_topics
from services.generator.population import Population, PopulationConfig, build_population
from services.generator.publish import producer_config
from streaming.card_state import FeatureConfig

BASELINE_CARDS = 10_000
TEMPLATE_CARDS = 4_000
HISTORY_DAYS = 28.0
LOOKUP_SAMPLE = 20_000
SEED = 8
END = datetime(2026, 11, 26, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
MB = 1e6


def baseline_cards(cards: int) -> int:
    """The small table's size: 10,000 cards, or a tenth of --cards when that is smaller."""
    if cards < 2:
        raise ValueError(f"--cards must be at least 2, got {cards}")
    return min(BASELINE_CARDS, max(1, cards // 10))


def parse_report(stdout: str) -> dict[str, Any]:
    """The child's `BENCH_CATCHUP {json}` line (the last one, if it printed several)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(REPORT_PREFIX):
            report: dict[str, Any] = json.loads(line[len(REPORT_PREFIX) :])
            return report
    raise ValueError(f"no {REPORT_PREFIX.strip()} line in the child's output: {stdout[-500:]!r}")


def per_card(large: float, small: float, large_cards: int, small_cards: int) -> float:
    """(large - small) / (large_cards - small_cards): the cost of one more card, fixed costs cancelled."""
    return ratio(large - small, large_cards - small_cards)


def _produce(
    console: Console,
    bootstrap: str,
    topics: tuple[str, str],
    pop: Population,
    models: list[Template],
    cards: int,
    small: int,
    samples: tuple[np.ndarray, np.ndarray],
) -> tuple[dict[str, Any], tuple[list[str], list[str]]]:
    """Every card's record to topics[0], the first `small` also to topics[1]; the sampled cards' tokens."""
    # The job publishes through Spark's Kafka sink, which sets no compression: neither do we.
    producer = Producer(producer_config(bootstrap) | {"compression.type": "none"})
    wanted = [dict.fromkeys(s.tolist(), "") for s in samples]
    value_bytes = 0
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    started = time.perf_counter()
    with Progress(*columns, console=console) as bars:
        task = bars.add_task(f"producing {cards:,} card-tiles records", total=cards)
        for j, (token, tiles) in enumerate(card_records(pop, models, cards)):
            for topic in topics if j < small else topics[:1]:
                for key, value in tiles:
                    produce_waiting(producer, topic, key, value)
            for w in wanted:
                if j in w:
                    w[j] = token
            value_bytes += sum(len(value) for _, value in tiles)
            if j % 1000 == 0:
                producer.poll(0)
                bars.update(task, completed=j)
        left = producer.flush(120)
        bars.update(task, completed=cards)
    seconds = time.perf_counter() - started
    if left:
        raise RuntimeError(f"{left} feature records not delivered within 120 s")
    on_topic = [sum(high_watermarks(bootstrap, t).values()) for t in topics]
    stats = {
        "records_on_topic": on_topic[0],
        "small_records_on_topic": on_topic[1],
        "mean_record_bytes": round(value_bytes / cards, 1),
        "topic_mb": round(value_bytes / MB, 1),
        "produce_seconds": round(seconds, 2),
    }
    return stats, (list(wanted[0].values()), list(wanted[1].values()))


def _follow(bootstrap: str, topic: str, tokens: list[str], tmp: Path) -> dict[str, Any]:
    """Run bench.catchup_table in a fresh interpreter and return its report."""
    path = tmp / f"{topic}.tokens"
    path.write_text("\n".join(tokens) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "bench.catchup_table", bootstrap, topic, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S + 600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the follower process failed ({done.returncode}): {done.stderr[-2000:]}")
    report = parse_report(done.stdout)
    report["records_per_s"] = ratio(report["applied"], report["ready_s"])
    return report


def _raw(bootstrap: str, topic: str) -> dict[str, Any]:
    records, seconds = raw_consume_rate(bootstrap, topic)
    return {"records": records, "seconds": round(seconds, 3), "records_per_s": ratio(records, seconds)}


def run(
    *, cards: int = 1_000_000, json_path: Path | None = None, console: Console | None = None
) -> dict[str, Any]:
    console = console or Console()
    info = machine.describe()
    console.print(f"[bold]catch-up bench[/] on {machine.summary(info)}")
    base = StackSettings()
    token_key = base.token_key.get_secret_value().encode()
    small = baseline_cards(cards)
    rng = np.random.default_rng(SEED + 1)
    samples = (
        rng.choice(cards, size=min(LOOKUP_SAMPLE, cards), replace=False),
        rng.choice(small, size=min(LOOKUP_SAMPLE, small), replace=False),
    )
    with console.status(f"folding {HISTORY_DAYS:g} days of traffic for {TEMPLATE_CARDS:,} template cards"):
        pop_rng = np.random.default_rng(SEED)
        pop = build_population(pop_rng, token_key, PopulationConfig(cards=max(cards, TEMPLATE_CARDS)))
        models = templates(
            pop,
            pop_rng,
            FeatureConfig(),
            end=END,
            template_cards=TEMPLATE_CARDS,
            history_days=HISTORY_DAYS,
        )
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp_name:
        tmp = Path(tmp_name)
        console.print("starting an embedded Kafka broker")
        with embedded_broker(tmp / "kafka", base.jars_dir) as bootstrap:
            topics = (fresh_name("card-tiles"), fresh_name("card-tiles-small"))
            ensure_topics(bootstrap, topics, partitions=base.topic_partitions, compacted=topics)
            stats, tokens = _produce(console, bootstrap, topics, pop, models, cards, small, samples)
            raws = []
            with console.status(f"raw confluent-kafka read of {cards:,} records"):
                raws.append(_raw(bootstrap, topics[0]))
            follow: dict[int, dict[str, Any]] = {}
            for n, topic, sample in ((small, topics[1], tokens[1]), (cards, topics[0], tokens[0])):
                with console.status(f"FeatureFollower catching up on {n:,} cards in a fresh process"):
                    follow[n] = _follow(bootstrap, topic, sample, tmp)
            with console.status(f"raw confluent-kafka read of {cards:,} records, again"):
                raws.append(_raw(bootstrap, topics[0]))
    result = _result(info, base, cards, small, len(models), stats, raws, follow)
    _print(console, result)
    output.finish(console, result, json_path)
    return result


def _result(
    info: dict[str, Any],
    base: StackSettings,
    cards: int,
    small: int,
    models: int,
    stats: dict[str, Any],
    raws: list[dict[str, Any]],
    follow: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    big, little = follow[cards], follow[small]
    raw_best = max(r["records_per_s"] for r in raws)
    growth = {n: f["rss_held"] - f["rss_start"] for n, f in follow.items()}
    return {
        "bench": "catchup",
        "machine": info,
        "cards": cards,
        "baseline_cards": small,
        "partitions": base.topic_partitions,
        "template_cards": models,
        "history_days": HISTORY_DAYS,
        **stats,
        "raw_read": raws,
        "follower": {str(n): f for n, f in follow.items()},
        "ratio_follower_vs_raw": round(ratio(big["records_per_s"], raw_best), 4),
        "rss_growth_held_mb": {str(n): round(g / MB, 1) for n, g in growth.items()},
        "bytes_per_card": round(ratio(growth[cards], big["cards"]), 1),
        "bytes_per_card_marginal": round(
            per_card(growth[cards], growth[small], big["cards"], little["cards"]), 1
        ),
        "bytes_per_card_at_ready": round(ratio(big["rss_ready"] - big["rss_start"], big["cards"]), 1),
        "python_bytes_per_card": round(ratio(big["held_bytes"], big["cards"]), 1),
        "ratio_lookup_us": round(ratio(big["lookup_us"], little["lookup_us"]), 3),
    }


def _print(console: Console, result: dict[str, Any]) -> None:
    cards, small = result["cards"], result["baseline_cards"]
    big, little = result["follower"][str(cards)], result["follower"][str(small)]
    raw_best = max(r["records_per_s"] for r in result["raw_read"])

    def rate_row(name: str, records: int, seconds: float, rate: float) -> list[str]:
        return [name, f"{records:,}", f"{seconds:.2f}", output.fmt(rate), f"{ratio(rate, raw_best):.3f}"]

    rows = [
        rate_row(f"raw confluent-kafka read, {when}", r["records"], r["seconds"], r["records_per_s"])
        for when, r in zip(("before", "after"), result["raw_read"], strict=True)
    ]
    rows += [
        rate_row(f"FeatureFollower + OnlineFeatureTable to ready, {f['cards']:,} cards", *_rate(f))
        for f in (big, little)
    ]
    console.print(
        output.table(
            f"catch-up on a compacted card-tiles topic: {cards:,} cards, "
            f"{result['partitions']} partitions, "
            f"{result['mean_record_bytes']:,.0f} B per record ({result['topic_mb']:,.0f} MB)",
            ["run", "records", "seconds", "records/s", "ratio vs faster raw read"],
            rows,
        )
    )

    def memory_row(f: dict[str, Any]) -> list[str]:
        n = f["cards"]
        return [
            f"{n:,}",
            f"{f['ready_s']:.2f}",
            output.fmt((f["rss_ready"] - f["rss_start"]) / MB, 1),
            output.fmt((f["rss_held"] - f["rss_start"]) / MB, 1),
            output.fmt(ratio(f["rss_held"] - f["rss_start"], n)),
            output.fmt(ratio(f["held_bytes"], n)),
            f"{f['lookup_us']:.1f}",
            f"{ratio(f['lookup_us'], little['lookup_us']):.2f}",
        ]

    console.print(
        output.table(
            "the follower's process (a fresh one per size): RSS growth from after the imports",
            [
                "cards",
                "s to ready",
                "RSS growth at ready MB",
                "held MB (follower stopped)",
                "held B/card",
                "Python objects B/card",
                "table.get µs",
                f"ratio vs {small:,}",
            ],
            [memory_row(little), memory_row(big)],
        )
    )
    console.print(
        f"one more card costs {output.fmt(result['bytes_per_card_marginal'])} B of RSS "
        f"(held growth between {small:,} and {cards:,} cards); "
        f"table.get of a random known card: {big['lookup_us']:.1f} µs at {cards:,}, "
        f"{little['lookup_us']:.1f} µs at {small:,} (median of {len(big['lookup_us_rounds'])} rounds of "
        f"{big['lookups']:,}; missing {big['lookup_missing']}); produced in {result['produce_seconds']:.1f} s"
    )


def _rate(f: dict[str, Any]) -> tuple[int, float, float]:
    return f["applied"], f["ready_s"], f["records_per_s"]
