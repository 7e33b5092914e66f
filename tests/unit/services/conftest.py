"""Fixtures of the services unit tests: a state folder's settings, a pid that no process has, and a
generated labeled history with its backtest (one per test module)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from foundation.settings import StackSettings
from services.backtest.data import BACKTEST_MAPPING, write_generated_history
from services.backtest.run import BacktestResult, run_backtest
from tests.unit.services.backtest.builders import CONFIG, KEY, SPEC, START


@pytest.fixture
def stack_settings(tmp_path: Path) -> StackSettings:
    """Settings of a stack in `tmp_path`, on an external Kafka that nothing answers for."""
    return StackSettings(_env_file=None, state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")  # type: ignore[call-arg]


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped (a kill -9'ed component, as seen later)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 days of 150 generated cards with every fraud family: about 4,800 rows, 220 of them fraud."""
    path = tmp_path_factory.mktemp("backtest") / "history.parquet"
    write_generated_history(path, KEY, START, days=12, cards=150, per_scenario_per_chunk=3, seed=3)
    return path


@pytest.fixture(scope="module")
def result(history: Path) -> BacktestResult:
    return run_backtest(history, BACKTEST_MAPPING, SPEC, KEY, CONFIG)
