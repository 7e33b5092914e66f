"""Fixtures of the backtest's unit tests: a generated labeled history and its backtest (one per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.backtest.data import BACKTEST_MAPPING, write_generated_history
from services.backtest.run import BacktestResult, run_backtest
from tests.unit.services.backtest.builders import CONFIG, KEY, SPEC, START


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 days of 150 generated cards with every fraud family: about 4,800 rows, 220 of them fraud."""
    path = tmp_path_factory.mktemp("backtest") / "history.parquet"
    write_generated_history(path, KEY, START, days=12, cards=150, per_scenario_per_chunk=3, seed=3)
    return path


@pytest.fixture(scope="module")
def result(history: Path) -> BacktestResult:
    return run_backtest(history, BACKTEST_MAPPING, SPEC, KEY, CONFIG)
