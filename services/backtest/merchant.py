"""The backtest's merchant inputs and the swipe fields a file carries.

Merchant inputs come from `scoring.serving.merchant_inputs.merchant_inputs_by_swipe`, the same replay
`fraudstream train` uses: per merchant, swipes at their event time and fraud labels at the time
they were reported, so a swipe's inputs count only the labels reported by then, in fraud windows
that end the label delay before it. A label is reported at the `reported=COL` time, or, without
one, the label delay after its swipe (what the delay assumes); never at or before its own swipe,
which would let the label's arrival move the merchant's record before the swipe is scored.
Merchants are independent, so the rows are split by merchant across worker processes (the card
features split them by card: `services.backtest.features`). Pure but for the process pool.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from scoring.serving.inputs import SWIPE_FIELDS, check_fields
from scoring.serving.merchant_inputs import merchant_input_names, merchant_inputs_by_swipe
from services.backtest.features import ROW_COLUMN, worker_of
from services.replay.file import LABEL_SCENARIO, ColumnMap, _times, map_rows
from streaming.merchant_state import MerchantConfig
from streaming.schema import Label

_AFTER = timedelta(microseconds=1)
_FIELD_KEYS = {"merchant": "merchant", "mcc": "mcc", "country": "country", "channel": "channel"}


def file_fields(frame: pd.DataFrame, cmap: ColumnMap) -> tuple[str, ...]:
    """The optional swipe fields the file carries: mapped, and with more than one value (a position:
    mapped lat and lon, set on some row). A column with one value says nothing about any swipe."""
    present = []
    for f in SWIPE_FIELDS:
        if f == "position":
            if cmap.lat and cmap.lon and (frame[cmap.lat].notna() & frame[cmap.lon].notna()).any():
                present.append(f)
            continue
        column = getattr(cmap, _FIELD_KEYS[f])
        if column is not None and frame[column].nunique(dropna=True) > 1:
            present.append(f)
    return check_fields(present)


def merchant_rows(
    frame: pd.DataFrame,
    cmap: ColumnMap,
    reported: str | None,
    token_key: bytes,
    config: MerchantConfig,
    workers: int,
) -> pd.DataFrame:
    """The merchant inputs of every mappable row of `frame`, indexed by its 1-based file row.

    `frame` is `services.backtest.run.read_file`'s (ROW_COLUMN and the mapped columns).
    """
    if cmap.merchant is None:
        raise ValueError("merchant inputs need merchant=COL in --map")
    if workers <= 1:
        return _merchant_part(frame, cmap, reported, token_key, config)
    part = worker_of(frame[cmap.merchant].astype("string").fillna(""), workers)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = [
            pool.submit(_merchant_part, frame[part == w], cmap, reported, token_key, config)
            for w in range(workers)
        ]
        return pd.concat([f.result() for f in futures]).sort_index()


def _merchant_part(
    frame: pd.DataFrame, cmap: ColumnMap, reported: str | None, token_key: bytes, config: MerchantConfig
) -> pd.DataFrame:
    names = merchant_input_names(config)
    mapped = map_rows(frame, replace(cmap, id=ROW_COLUMN), token_key, 1, "backtest")
    delay = timedelta(seconds=config.label_delay_s)
    known_at: dict[str, datetime] = {}
    if reported is not None:
        at = _times(frame[reported])
        known_at = {
            row: t.to_pydatetime()
            for row, t in zip(frame[ROW_COLUMN].tolist(), at.tolist(), strict=True)
            if t is not pd.NaT and t == t
        }
    labels = [
        Label.of(
            s,
            is_fraud=True,
            scenario=LABEL_SCENARIO,
            reported_at=max(known_at.get(s.swipe_id, s.event_time + delay), s.event_time + _AFTER),
        )
        for s, is_fraud in zip(mapped.swipes, mapped.labels, strict=True)
        if is_fraud
    ]
    by_swipe = merchant_inputs_by_swipe(mapped.swipes, labels, config)
    rows = np.array([int(s.swipe_id) for s in mapped.swipes], dtype=np.int64)
    x = np.array([[by_swipe[s.swipe_id][n] for n in names] for s in mapped.swipes], dtype=np.float64)
    return pd.DataFrame(x.reshape(len(rows), len(names)), index=pd.Index(rows, name="row"), columns=names)
