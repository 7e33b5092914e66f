"""`fraudstream-bench state`: the hot query's state for a day of N cards, against the swipes' own bytes.

Every card swipes `per_card` times on one simulated day (00:00-23:00, random minutes); the swipes go
to a real embedded broker and the job's own `card_tiles` query (streaming.job.start_tiles, local[2],
RocksDB) folds them. Once the watermark stands at the day's end, each card holds what a card seen
today holds in a running job: its open day tile, and an hour and minute tiles only if it swiped in
the last hour. The figures: state rows, the state store's memory and its files on disk, per card,
and as a ratio to the JSON bytes of the swipes themselves (the baseline, measured in the same run).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Producer
from rich.console import Console
from rich.progress import Progress

from bench import machine, output
from bench.kafka import embedded_broker, fresh_name
from bench.measure import ratio
from bench.stream_feed import swipe_pool
from services.generator.publish import producer_config
from streaming.settings import StreamSettings

DAY = datetime(2026, 6, 1, tzinfo=UTC)


def day_swipes(pool: list[dict[str, Any]], card: int, per_card: int, rng: np.random.Generator) -> list[bytes]:
    """`per_card` swipes of card number `card` on DAY, each a pool swipe with its own id, card and time."""
    out = []
    for k, minute in enumerate(sorted(rng.integers(0, 23 * 60, per_card))):
        swipe = dict(pool[(card * per_card + k) % len(pool)])
        swipe["card_token"] = f"ct_{card:032x}"
        swipe["swipe_id"] = f"st-{card}-{k}"
        swipe["event_time"] = (DAY + timedelta(minutes=int(minute))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.append(json.dumps(swipe, separators=(",", ":")).encode())
    return out


def _state_op(progress: dict[str, Any] | None) -> dict[str, Any]:
    ops = (progress or {}).get("stateOperators") or [{}]
    return dict(ops[0])


def run(
    *,
    cards: int = 100_000,
    per_card: int = 2,
    json_path: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    console = console or Console()
    info = machine.describe()
    console.print(f"[bold]state bench[/] on {machine.summary(info)}: {cards:,} cards x {per_card} swipes")
    base = StreamSettings()
    pool = swipe_pool(base.token_key.get_secret_value().encode(), cards=2_000, size=10_000)
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with embedded_broker(tmp / "kafka", base.jars_dir) as bootstrap:
            settings = base.model_copy(
                update={
                    "kafka_bootstrap": bootstrap,
                    "topic_swipes": fresh_name("swipes"),
                    "topic_tiles": fresh_name("card-tiles"),
                    "checkpoint_root": str(tmp / "checkpoints"),
                    "delta_root": str(tmp / "delta"),
                    "max_offsets_per_trigger": 200_000,
                    "trigger_s": 0.5,
                }
            )
            swipe_bytes = _produce(settings, cards, per_card, pool, rng, console)
            result = _fold(settings, cards, console)
    result.update(
        bench="state",
        cards=cards,
        per_card=per_card,
        machine=info,
        swipe_json_bytes=swipe_bytes,
        ratio_disk_vs_swipe_json=round(ratio(result["state_disk_bytes"], swipe_bytes), 4),
        ratio_memory_vs_swipe_json=round(ratio(result["state_memory_bytes"], swipe_bytes), 4),
    )
    console.print(render(result))
    output.finish(console, result, json_path)
    return result


def _produce(
    settings: StreamSettings,
    cards: int,
    per_card: int,
    pool: list[dict[str, Any]],
    rng: np.random.Generator,
    console: Console,
) -> int:
    from foundation.topics import ensure_topics

    ensure_topics(settings.bootstrap, [settings.topic_swipes, settings.topic_tiles])
    producer = Producer(producer_config(settings.bootstrap))
    total = 0
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("publishing the day's swipes", total=cards)
        for card in range(cards):
            for value in day_swipes(pool, card, per_card, rng):
                total += len(value)
                while True:
                    try:
                        producer.produce(settings.topic_swipes, value=value, key=f"ct_{card:032x}")
                        break
                    except BufferError:
                        producer.poll(0.1)
            if card % 10_000 == 0:
                producer.poll(0)
                bar.update(task, completed=card)
    # The day's end: one swipe of another card moves the watermark past every hour but the last.
    producer.produce(settings.topic_swipes, value=_closing(pool))
    producer.flush(120)
    return total


def _closing(pool: list[dict[str, Any]]) -> bytes:
    swipe = dict(pool[0], card_token="ct_" + "f" * 32, swipe_id="st-closing")
    swipe["event_time"] = (DAY + timedelta(hours=23, minutes=59)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(swipe, separators=(",", ":")).encode()


def _fold(settings: StreamSettings, cards: int, console: Console) -> dict[str, Any]:
    from streaming.job import job_spark_conf, start_tiles, tiles_checkpoint
    from streaming.spark import build_session

    spark = build_session(
        "fraudstream-bench-state",
        settings.jars_dir,
        master=settings.spark_master,
        shuffle_partitions=settings.shuffle_partitions,
        # A snapshot of the store after every batch, uploaded within seconds: its files are the
        # state's compacted size; the changelog files beside them are every batch's writes.
        extra={
            **job_spark_conf(settings),
            "spark.sql.streaming.stateStore.minDeltasForSnapshot": "1",
            "spark.sql.streaming.stateStore.maintenanceInterval": "2s",
        },
    )
    spark.sparkContext.setLogLevel("ERROR")
    query = start_tiles(spark, settings)
    started = time.perf_counter()
    try:
        with console.status("the card_tiles query folding the day"):
            query.processAllAvailable()
            # Eviction runs in the batch after the one that moved the watermark: wait for rows to settle.
            rows, settled = -1, 0
            while settled < 3:
                time.sleep(1.5)
                now = int(_state_op(query.lastProgress).get("numRowsTotal") or 0)
                settled = settled + 1 if now == rows else 0
                rows = now
        seconds = time.perf_counter() - started
        op = _state_op(query.lastProgress)
        time.sleep(10)  # the maintenance thread uploads the last snapshot
    finally:
        query.stop()
        spark.stop()
    state_dir = Path(tiles_checkpoint(settings)) / "state"
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    disk = sum(p.stat().st_size for p in files if p.suffix in (".zip", ".sst"))
    console.print(f"  state files: {sorted({p.suffix for p in files})}")
    changelog = sum(p.stat().st_size for p in state_dir.rglob("*.changelog"))
    memory = int(op.get("memoryUsedBytes") or 0)
    return {
        "fold_seconds": round(seconds, 1),
        "state_rows": int(op.get("numRowsTotal") or 0),
        "state_memory_bytes": memory,
        "state_disk_bytes": disk,
        "changelog_bytes": changelog,
        "custom_metrics": op.get("customMetrics") or {},
        "rows_per_card": round(int(op.get("numRowsTotal") or 0) / cards, 3),
        "disk_bytes_per_card": round(disk / cards, 1),
        "memory_bytes_per_card": round(memory / cards, 1),
    }


def render(result: dict[str, Any]) -> Any:
    return output.table(
        f"card_tiles state for {result['cards']:,} cards x {result['per_card']} swipes, one day",
        ["figure", "total", "per card", "ratio vs the swipes' JSON"],
        [
            ["swipes' JSON on Kafka (baseline)", output.fmt(result["swipe_json_bytes"]), "", "1"],
            ["state rows (tiles)", output.fmt(result["state_rows"]), f"{result['rows_per_card']}", ""],
            [
                "state snapshot on disk (RocksDB files, zipped)",
                output.fmt(result["state_disk_bytes"]),
                output.fmt(result["disk_bytes_per_card"], 1),
                f"{result['ratio_disk_vs_swipe_json']:.4f}",
            ],
            [
                "state store memory (RocksDB)",
                output.fmt(result["state_memory_bytes"]),
                output.fmt(result["memory_bytes_per_card"], 1),
                f"{result['ratio_memory_vs_swipe_json']:.4f}",
            ],
            ["fold time, s", output.fmt(result["fold_seconds"], 1), "", ""],
        ],
    )
