"""`fraudstream-bench`, its own entry point: every benchmark listed with its own help line."""

from __future__ import annotations

import pytest

from bench.cli import bench_app
from tests.unit.cli_help import options_without_env_var, own_help_line, printed_help_lines

BENCHMARKS = (
    "scorer",
    "stream",
    "tiles",
    "state",
    "replay",
    "generate",
    "backtest",
    "catchup",
    "merge",
    "soak",
    "all",
)


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_help_prints_each_benchmark_with_its_own_help_line(benchmark: str) -> None:
    assert printed_help_lines(bench_app)[benchmark] == own_help_line(bench_app, benchmark)


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_every_benchmark_option_shows_its_env_var(benchmark: str) -> None:
    assert options_without_env_var(bench_app, [benchmark]) == []


def test_the_product_cli_has_no_bench_command() -> None:
    from services.cli import app

    assert "bench" not in printed_help_lines(app)
