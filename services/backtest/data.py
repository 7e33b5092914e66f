"""The generator's labeled traffic (background plus a mix of fraud families) written as a Parquet file.

Two profiles. `full` looks like a bank's export: one row per transaction with its own id, the card,
amount, time, merchant, MCC, country, currency, channel, position, the fraud label and, for fraud,
when the chargeback was reported and its scenario. `minimal` keeps only card, merchant, amount,
time and label, so a backtest has no geography, MCC or channel to lean on. `fraudstream backtest`
reads either with `mapping_for(profile)`, like any file.

History is generated month by month (each month its own scenario instances) and appended, so six
months of a few thousand cards never sit in memory as swipe objects at once. A scenario started in
one month goes on into the next (`services.generator.history.labeled_chunk`): a compromise does not end
because the generator's month did.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from services.generator.history import Carry, labeled_chunk
from services.generator.population import PopulationConfig, build_population
from services.generator.scenario_mix import DEFAULT_MIX
from services.generator.scenarios import LabelDelay, labels_for

BACKTEST_MAPPING = (
    "card=card,amount=amount,time=time,merchant=merchant,mcc=mcc,country=country,currency=currency,"
    "channel=channel,lat=lat,lon=lon,label=label,id=id,reported=reported,scenario=scenario"
)
MINIMAL_COLUMNS = ("card", "merchant", "amount", "time", "label")
MINIMAL_MAPPING = ",".join(f"{c}={c}" for c in MINIMAL_COLUMNS)
PROFILES = ("full", "minimal")
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
        ("scenario", pa.string()),
    ]
)


def mapping_for(profile: str) -> str:
    """The `backtest --map` that reads a file of `profile`."""
    return MINIMAL_MAPPING if profile == "minimal" else BACKTEST_MAPPING


def schema_for(profile: str) -> pa.Schema:
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is unknown; choose from {', '.join(PROFILES)}")
    return pa.schema([SCHEMA.field(c) for c in MINIMAL_COLUMNS]) if profile == "minimal" else SCHEMA


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
    mix: Mapping[str, float] = DEFAULT_MIX,
    profile: str = "full",
    progress: Callable[[int], None] = lambda _: None,
) -> WrittenHistory:
    """Write `days` of generated labeled traffic from `start` to `path` (Parquet), in time order.

    Each of the equal chunks of at most `CHUNK_DAYS` has `per_scenario_per_chunk` instances of every
    family times its weight in `mix` (`services.generator.scenario_mix`); `profile` picks the columns (see the
    module docstring). `progress` gets the rows written so far.
    """
    schema = schema_for(profile)
    rng = np.random.default_rng(seed)
    pop = build_population(rng, token_key, PopulationConfig(cards=cards))
    rows = fraud = 0
    chunks = max(1, math.ceil(days / CHUNK_DAYS))
    chunk_days = days / chunks  # equal chunks: each longer than the scenarios' warm-up
    end = start + timedelta(days=days)
    carry = Carry()
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for c in range(chunks):
            chunk_start = start + timedelta(days=c * chunk_days)
            history, carry = labeled_chunk(
                pop,
                chunk_start,
                chunk_days,
                rng,
                per_scenario=per_scenario_per_chunk,
                mix=mix,
                carry=carry,
                world_end=end,
                id_prefix=f"c{c:03d}-",  # chunks reuse id sequences; keep ids unique
            )
            reported = {label.swipe_id: at for label, at in labels_for(history, rng, LabelDelay())}
            swipes = [ls.swipe for ls in history]
            table = pa.table(
                {
                    "id": [s.swipe_id for s in swipes],
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
                    "scenario": [ls.scenario if ls.is_fraud else None for ls in history],
                },
                schema=SCHEMA,
            ).select(schema.names)
            writer.write_table(table)
            rows += len(history)
            fraud += sum(ls.is_fraud for ls in history)
            progress(rows)
    return WrittenHistory(path, rows, fraud, start, end)
