"""The generator's labeled traffic (background plus all four fraud scenarios) written as a Parquet file.

The file looks like a bank's export: one row per transaction with its own id, the card, amount,
time, merchant, MCC, country, currency, channel, position, the fraud label and, for fraud, when the
chargeback was reported. `fraudstream backtest` reads it with `BACKTEST_MAPPING`, like any file.

History is generated month by month (each month its own scenario instances) and appended, so six
months of a few thousand cards never sit in memory as swipe objects at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from services.history import labeled_history
from services.population import PopulationConfig, build_population
from services.scenarios import LabelDelay, labels_for

BACKTEST_MAPPING = (
    "card=card,amount=amount,time=time,merchant=merchant,mcc=mcc,country=country,currency=currency,"
    "channel=channel,lat=lat,lon=lon,label=label,id=id,reported=reported"
)
CHUNK_DAYS = 30.0

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("card", pa.string()),
        ("amount", pa.float64()),
        ("time", pa.timestamp("us", tz="UTC")),
        ("merchant", pa.string()),
        ("mcc", pa.string()),
        ("country", pa.string()),
        ("currency", pa.string()),
        ("channel", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("label", pa.int8()),
        ("reported", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class WrittenHistory:
    path: Path
    rows: int
    fraud: int
    start: datetime
    end: datetime


def write_generated_history(
    path: Path,
    token_key: bytes,
    start: datetime,
    *,
    days: float,
    cards: int,
    per_scenario_per_chunk: int = 10,
    seed: int = 1,
    progress: Callable[[int], None] = lambda _: None,
) -> WrittenHistory:
    """Write `days` of generated labeled traffic from `start` to `path` (Parquet), in time order.

    Each of the equal chunks of at most `CHUNK_DAYS` has `per_scenario_per_chunk` instances of every scenario;
    `progress` gets the rows written so far.
    """
    rng = np.random.default_rng(seed)
    pop = build_population(rng, token_key, PopulationConfig(cards=cards))
    rows = fraud = 0
    chunks = max(1, math.ceil(days / CHUNK_DAYS))
    chunk_days = days / chunks  # equal chunks: each longer than the scenarios' warm-up
    end = start + timedelta(days=days)
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        for c in range(chunks):
            chunk_start = start + timedelta(days=c * chunk_days)
            history = labeled_history(pop, chunk_start, chunk_days, rng, per_scenario=per_scenario_per_chunk)
            reported = {label.swipe_id: at for label, at in labels_for(history, rng, LabelDelay())}
            tag = f"c{c:03d}-"  # chunks reuse id sequences; keep ids unique
            swipes = [ls.swipe for ls in history]
            table = pa.table(
                {
                    "id": [tag + s.swipe_id for s in swipes],
                    "card": [s.card_token for s in swipes],
                    "amount": [s.amount for s in swipes],
                    "time": [s.event_time for s in swipes],
                    "merchant": [s.merchant_id for s in swipes],
                    "mcc": [s.mcc for s in swipes],
                    "country": [s.country for s in swipes],
                    "currency": [s.currency for s in swipes],
                    "channel": [s.channel for s in swipes],
                    "lat": [s.lat for s in swipes],
                    "lon": [s.lon for s in swipes],
                    "label": [int(ls.is_fraud) for ls in history],
                    "reported": [reported.get(s.swipe_id) for s in swipes],
                },
                schema=SCHEMA,
            )
            writer.write_table(table)
            rows += len(history)
            fraud += sum(ls.is_fraud for ls in history)
            progress(rows)
    return WrittenHistory(path, rows, fraud, start, end)
