"""`fraudstream-bench merge`: the scorer's card-tiles follower on a live tile stream, vs json.loads of it.

1. Records (bench/merge_records.py): every card's history tiles, then batches of a live stream as
   the job publishes them (each batch's changed minute, hour and day tiles, shuffled across cards).
2. The follower's own code, no broker: `FeatureFollower.apply` per record (parse, `take`), 500
   records at a time (what one consume() hands it), and `OnlineFeatureTable.flush` as the follower
   calls it: at the end of each batch (its read caught up) or once it read for MERGE_EVERY_S;
   `--merge-per-consume` flushes after every 500 records, as the follower did before. The history
   first, then the live batches on the same table.
3. Baseline, in the same run and just before each batch: `json.loads` of the same values (the
   fastest of three passes).
4. A digest of the Kafka JSON of each card merged in a batch, as of the batch's end (outside the
   timing): equal digests on two commits mean byte-identical merges.
"""

from __future__ import annotations

import cProfile
import hashlib
import json
import pstats
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from bench import machine, output
from bench.measure import ratio
from bench.merge_records import MergeStream, Record, check_records, live_stream
from bench.scorer_data import folded_cards
from scoring.serving.online import CONSUME_BATCH, MERGE_EVERY_S, FeatureFollower, OnlineFeatureTable
from services.generator.population import PopulationConfig, build_population
from streaming.card_state import FeatureConfig
from streaming.schema import to_kafka

END = datetime(2026, 11, 26, tzinfo=UTC)
SEED = 12
TOKEN_KEY = b"merge-bench-token-key-0123456789"


class Feed:
    """A table, and the follower's per-record and per-batch steps over it, timed apart."""

    def __init__(self, config: FeatureConfig, *, merge_per_consume: bool = False) -> None:
        self.table = OnlineFeatureTable(config)
        self.merge_per_consume = merge_per_consume
        self.follower = FeatureFollower("127.0.0.1:1", "card-tiles", self.table)
        self.digest = hashlib.sha256()

    def run(self, records: list[Record], written_at: float, check: bool) -> dict[str, float]:
        apply, flush = self.follower.apply, self.table.flush
        take_s = merge_s = read_s = 0.0
        merges = 0
        changed: set[str] = set()
        for at in range(0, len(records), CONSUME_BATCH):
            chunk = records[at : at + CONSUME_BATCH]
            started = time.perf_counter()
            for key, value in chunk:
                apply(value, key, written_at)
            taken = time.perf_counter()
            take_s += taken - started
            read_s += taken - started
            last = at + CONSUME_BATCH >= len(records)  # the next consume() would come back short
            if not (self.merge_per_consume or last or read_s >= MERGE_EVERY_S):
                continue
            merged = flush()
            merge_s += time.perf_counter() - taken
            read_s = 0.0
            merges += len(merged)
            changed.update(merged)
        if check:
            for token in sorted(changed):
                record = self.table.get(token)
                self.digest.update(to_kafka(record) if record is not None else b"-")
        return {"records": len(records), "merges": merges, "take_s": take_s, "merge_s": merge_s}


def json_loads_s(records: list[Record], rounds: int = 3) -> float:
    """Seconds to json.loads every value, the fastest of `rounds` (the machine may be shared)."""
    loads = json.loads
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _, value in records:
            loads(value)
        best = min(best, time.perf_counter() - started)
    return best


def figures(run: dict[str, float], baseline_s: float) -> dict[str, float]:
    """µs per record (parse and take), per merged card (flush), per record in all, and the ratio."""
    n, merges = run["records"], run["merges"]
    total = run["take_s"] + run["merge_s"]
    return {
        **run,
        "json_loads_us_per_record": 1e6 * ratio(baseline_s, n),
        "take_us_per_record": 1e6 * ratio(run["take_s"], n),
        "merge_us_per_card": 1e6 * ratio(run["merge_s"], merges),
        "us_per_record": 1e6 * ratio(total, n),
        "ratio_vs_json_loads": ratio(total, baseline_s),
    }


def build(cards: int, template_cards: int, history_days: float, rate: float, batches: int) -> MergeStream:
    rng = np.random.default_rng(SEED)
    pop = build_population(rng, TOKEN_KEY, PopulationConfig(cards=cards))
    models = folded_cards(
        pop,
        rng,
        FeatureConfig(),
        end=END,
        template_cards=template_cards,
        history_days=history_days,
        id_prefix="h-",
    )
    return live_stream(pop, rng, models, end=END, rate=rate, batch_s=2.0, batches=batches)


def run(
    *,
    cards: int = 10_000,
    template_cards: int = 1_000,
    history_days: float = 14.0,
    rate: float = 2_500.0,
    batches: int = 6,
    check: bool = True,
    merge_per_consume: bool = False,
    profile: Path | None = None,
    json_path: Path | None = None,
    console: Console,
) -> dict[str, Any]:
    info = machine.describe()
    console.print(f"[bold]merge bench[/] on {machine.summary(info)}")
    started = time.perf_counter()
    stream = build(cards, template_cards, history_days, rate, batches)
    check_records(stream.history)
    console.print(
        f"{stream.cards:,} cards, {len(stream.history):,} history records, "
        f"{sum(map(len, stream.batches)):,} live records in {len(stream.batches)} batches "
        f"(built in {time.perf_counter() - started:.1f} s)"
    )
    feed = Feed(FeatureConfig(), merge_per_consume=merge_per_consume)
    at = END.timestamp()
    history = figures(feed.run(stream.history, at, check), json_loads_s(stream.history))
    profiler = cProfile.Profile() if profile is not None else None
    live = []
    for b, records in enumerate(stream.batches):
        baseline_s = json_loads_s(records)
        if profiler is not None and b > 0:
            profiler.enable()
        live.append(figures(feed.run(records, at + 2.0 * (b + 1), check), baseline_s))
        if profiler is not None:
            profiler.disable()
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(25)
    steady = live[1:] or live  # the first live batch also opens the cards' first live tiles
    keys = ("json_loads_us_per_record", "take_us_per_record", "merge_us_per_card", "us_per_record")
    result: dict[str, Any] = {
        "machine": info,
        "cards": stream.cards,
        "merge_per_consume": merge_per_consume,
        "history": history,
        "live": live,
        "live_median": {k: statistics.median(f[k] for f in steady) for k in (*keys, "ratio_vs_json_loads")},
        "digest": feed.digest.hexdigest() if check else None,
    }
    _print(console, result)
    output.finish(console, result, json_path)
    return result


def _print(console: Console, result: dict[str, Any]) -> None:
    def row(name: str, f: dict[str, Any]) -> list[str]:
        return [
            name,
            f"{int(f.get('records', 0)):,}" if "records" in f else "-",
            f"{int(f.get('merges', 0)):,}" if "merges" in f else "-",
            output.fmt(f["json_loads_us_per_record"], 2),
            output.fmt(f["take_us_per_record"], 1),
            output.fmt(f["merge_us_per_card"], 1),
            output.fmt(f["us_per_record"], 1),
            output.fmt(f["ratio_vs_json_loads"], 1),
        ]

    rows = [row("history (catch-up)", result["history"])]
    rows += [row(f"live batch {i + 1}", f) for i, f in enumerate(result["live"])]
    rows.append(row("live, median of batches 2+", result["live_median"]))
    console.print(
        output.table(
            "The card-tiles follower: apply per record, flush "
            + ("after every 500 records" if result["merge_per_consume"] else "as the follower does"),
            [
                "records",
                "count",
                "merged cards",
                "json.loads µs/record",
                "parse+take µs/record",
                "merge µs/card",
                "all µs/record",
                "ratio vs json.loads",
            ],
            rows,
        )
    )
    if result["digest"]:
        console.print(f"digest of every merged record: {result['digest']}")
