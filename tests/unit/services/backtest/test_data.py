"""The generator's labeled file: time-ordered, unique ids, every family, report times, two profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from services.backtest.data import MINIMAL_COLUMNS, mapping_for, write_generated_history
from services.generator.scenario_mix import FAMILIES

START = datetime(2026, 3, 1, tzinfo=UTC)


def test_the_file_holds_every_family_with_chargebacks_after_the_swipe(tmp_path: Path) -> None:
    path = tmp_path / "history.parquet"
    written = write_generated_history(path, b"test-key", START, days=40, cards=120, per_scenario_per_chunk=1)
    frame = pd.read_parquet(path)
    assert (len(frame), int(frame["label"].sum())) == (written.rows, written.fraud)
    assert frame["id"].is_unique
    # two chunks of 20 days, one after the other, each in time order
    assert frame["time"].is_monotonic_increasing
    assert frame["time"].min() >= pd.Timestamp(START) and frame["time"].max() < pd.Timestamp(written.end)
    fraud = frame[frame["label"] == 1]
    assert (fraud["reported"] > fraud["time"]).all()
    assert frame.loc[frame["label"] == 0, "reported"].isna().all()
    assert set(fraud["scenario"]) == set(FAMILIES)
    assert frame.loc[frame["label"] == 0, "scenario"].isna().all()


def test_a_mix_changes_which_families_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "mixed.parquet"
    mix = {"terminal_compromise": 2.0, "low_and_slow": 1.0}
    write_generated_history(path, b"test-key", START, days=20, cards=200, per_scenario_per_chunk=2, mix=mix)
    assert set(pd.read_parquet(path, columns=["scenario"])["scenario"].dropna()) == set(mix)


def test_the_minimal_profile_has_only_card_merchant_amount_time_and_label(tmp_path: Path) -> None:
    full, minimal = tmp_path / "full.parquet", tmp_path / "minimal.parquet"
    for path, profile in ((full, "full"), (minimal, "minimal")):
        write_generated_history(
            path, b"k", START, days=10, cards=100, per_scenario_per_chunk=1, profile=profile
        )
    small = pd.read_parquet(minimal)
    assert tuple(small.columns) == MINIMAL_COLUMNS
    # the same world, fewer columns
    assert small.equals(pd.read_parquet(full, columns=list(MINIMAL_COLUMNS)))
    assert mapping_for("minimal") == "card=card,merchant=merchant,amount=amount,time=time,label=label"


def test_an_unknown_profile_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="full, minimal"):
        write_generated_history(tmp_path / "x.parquet", b"k", START, days=10, cards=50, profile="tiny")
