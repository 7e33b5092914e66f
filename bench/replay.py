"""`fraudstream-bench replay`: file replay rows/s against raw confluent-kafka produce of the same records.

The CSV is generated (PANs, ISO times, merchants, MCCs, countries, a fraud label), so every row
becomes a swipe and a label: two Kafka records per row in both measurements.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from bench import machine, output
from bench.kafka import embedded_broker, fresh_name, raw_produce_seconds
from bench.measure import ratio
from foundation.settings import StackSettings
from foundation.topics import ensure_topics
from services.generator.population import PopulationConfig, build_population
from services.generator.traffic import draw_slice
from services.replay.file import map_rows, parse_mapping, read_chunks, replay_file
from streaming.schema import Label, to_kafka

MAPPING = "card=pan,amount=amount,time=ts,merchant=merchant,mcc=mcc,country=country,label=label,id=id"
FRAUD_SHARE = 0.002


def write_csv(path: Path, rows: int, token_key: bytes, *, cards: int = 20_000, seed: int = 5) -> None:
    """`rows` generated card transactions as a CSV a bank might export (PAN in clear, ISO times)."""
    rng = np.random.default_rng(seed)
    pop = build_population(rng, token_key, PopulationConfig(cards=cards))
    t = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    parts: dict[str, list[np.ndarray]] = {"card": [], "t": [], "merchant": [], "amount": []}
    drawn = 0
    while drawn < rows:
        batch = draw_slice(pop, t, t + 3600, rng)
        for name in parts:
            parts[name].append(getattr(batch, name))
        drawn += len(batch)
        t += 3600
    col = {name: np.concatenate(arrays)[:rows] for name, arrays in parts.items()}
    pans = np.array([pop.pan(c) for c in range(cards)])
    merchant = col["merchant"]
    frame = pd.DataFrame(
        {
            "id": [f"tx{i:08d}" for i in range(rows)],
            "pan": pans[col["card"]],
            "amount": col["amount"],
            "ts": pd.to_datetime(col["t"], unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "merchant": np.array(pop.merchant_ids)[merchant],
            "mcc": np.array(pop.merchant_mcc)[merchant],
            "country": np.array(pop.geo.countries)[pop.merchant_country[merchant]],
            "label": np.where(rng.random(rows) < FRAUD_SHARE, "1", "0"),
        }
    )
    frame.to_csv(path, index=False)


def mapped_records(
    settings: StackSettings, path: Path, swipes_topic: str, labels_topic: str
) -> tuple[list[tuple[str, bytes, bytes]], float]:
    """The (topic, key, value) records the replay publishes for `path`, and the seconds mapping took."""
    cmap = parse_mapping(MAPPING)
    key = settings.token_key.get_secret_value().encode()
    records: list[tuple[str, bytes, bytes]] = []
    started, rows = time.perf_counter(), 0
    for chunk in read_chunks(path, list(dict.fromkeys(cmap.columns().values())), 50_000):
        mapped = map_rows(chunk, cmap, key, rows + 1, path.stem)
        rows += len(chunk)
        for swipe, is_fraud in zip(mapped.swipes, mapped.labels, strict=True):
            token = swipe.card_token.encode()
            records.append((swipes_topic, token, to_kafka(swipe)))
            if is_fraud is not None:
                label = Label.of(swipe, is_fraud=is_fraud, scenario="file", reported_at=swipe.event_time)
                records.append((labels_topic, token, to_kafka(label)))
    return records, time.perf_counter() - started


def run(
    *, rows: int = 200_000, json_path: Path | None = None, console: Console | None = None
) -> dict[str, Any]:
    console = console or Console()
    info = machine.describe()
    console.print(f"[bold]replay bench[/] on {machine.summary(info)}")
    base = StackSettings()
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp_name:
        tmp = Path(tmp_name)
        csv = tmp / "transactions.csv"
        with console.status(f"writing a {rows:,}-row CSV"):
            write_csv(csv, rows, base.token_key.get_secret_value().encode())
        console.print(f"CSV: {rows:,} rows, {csv.stat().st_size / 1e6:,.1f} MB")
        console.print("starting an embedded Kafka broker")
        with embedded_broker(tmp / "kafka", base.jars_dir) as bootstrap:
            names = {k: fresh_name(k) for k in ("swipes", "labels", "raw-swipes", "raw-labels")}
            ensure_topics(bootstrap, list(names.values()), partitions=base.topic_partitions)
            settings = base.model_copy(
                update={
                    "kafka_bootstrap": bootstrap,
                    "topic_swipes": names["swipes"],
                    "topic_labels": names["labels"],
                }
            )
            with console.status("replaying the CSV (services.replay.file.replay_file)"):
                report = replay_file(settings, csv, MAPPING)
            with console.status("mapping the CSV to records without Kafka"):
                records, map_s = mapped_records(settings, csv, names["raw-swipes"], names["raw-labels"])
            with console.status(f"producing the same {len(records):,} records raw"):
                raw_s = raw_produce_seconds(bootstrap, records)
    replay_rate = report.rows / report.elapsed_s if report.elapsed_s > 0 else 0.0
    raw_rate = rows / raw_s if raw_s > 0 else 0.0
    map_rate = rows / map_s if map_s > 0 else 0.0
    result = {
        "bench": "replay",
        "machine": info,
        "rows": rows,
        "records": len(records),
        "bad_rows": report.bad_rows,
        "delivery_errors": report.delivery_errors,
        "replay": {"seconds": round(report.elapsed_s, 3), "rows_per_s": round(replay_rate, 1)},
        "raw_produce": {"seconds": round(raw_s, 3), "rows_per_s": round(raw_rate, 1)},
        "mapping_only": {"seconds": round(map_s, 3), "rows_per_s": round(map_rate, 1)},
        "ratio_replay_vs_raw": round(ratio(replay_rate, raw_rate), 4),
    }
    console.print(
        output.table(
            f"file replay of {rows:,} rows ({len(records):,} Kafka records: swipes + labels)",
            ["run", "seconds", "rows/s", "ratio vs raw produce"],
            [
                ["raw confluent-kafka produce", f"{raw_s:.2f}", output.fmt(raw_rate), "1"],
                [
                    "fraudstream replay --file",
                    f"{report.elapsed_s:.2f}",
                    output.fmt(replay_rate),
                    f"{result['ratio_replay_vs_raw']:.3f}",
                ],
                [
                    "map rows only, no Kafka (separate pass)",
                    f"{map_s:.2f}",
                    output.fmt(map_rate),
                    f"{ratio(map_rate, raw_rate):.3f}",
                ],
            ],
        )
    )
    output.finish(console, result, json_path)
    return result
