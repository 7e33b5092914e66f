"""The generator's labeled traffic as a file: time-ordered, unique ids, every scenario, report times."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from services.backtest_data import write_generated_history
from services.scenarios import SCENARIOS


def test_the_file_holds_every_scenario_with_chargebacks_after_the_swipe(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    start = datetime(2026, 3, 1, tzinfo=UTC)
    written = write_generated_history(path, b"test-key", start, days=40, cards=120, per_scenario_per_chunk=1)
    frame = pd.read_parquet(path)
    assert (len(frame), int(frame["label"].sum())) == (written.rows, written.fraud)
    assert frame["id"].is_unique
    # two chunks of 20 days, one after the other, each in time order
    assert frame["time"].is_monotonic_increasing
    assert frame["time"].min() >= pd.Timestamp(start) and frame["time"].max() < pd.Timestamp(written.end)
    fraud = frame[frame["label"] == 1]
    assert (fraud["reported"] > fraud["time"]).all()
    assert frame.loc[frame["label"] == 0, "reported"].isna().all()
    scenario_tags = {name[:3] for name in SCENARIOS}
    assert {i.split("-")[1][:3] for i in fraud["id"]} == scenario_tags  # c000-sto0-...: chunk, scenario
