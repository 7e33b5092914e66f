"""`fraudstream-bench`, its own entry point: every benchmark listed with its own help line."""

from __future__ import annotations

from typing import Any

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


@pytest.mark.parametrize(
    ("args", "rates", "drain"),
    [
        ([], [100.0], True),
        (["--fresh-rate", "1000"], [1000.0], True),
        (
            ["--fresh-rate", "100", "--fresh-rate", "1000", "--fresh-rate", "5000"],
            [100.0, 1000.0, 5000.0],
            True,
        ),
        (["--fresh-rate", "1000", "--fresh-rate", "100", "--no-drain"], [1000.0, 100.0], False),
    ],
)
def test_stream_takes_its_freshness_rates_in_order_and_can_skip_the_drain(
    monkeypatch: pytest.MonkeyPatch, args: list[str], rates: list[float], drain: bool
) -> None:
    from typer.testing import CliRunner

    import bench.stream

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(bench.stream, "run", lambda **kwargs: calls.append(kwargs))
    result = CliRunner().invoke(bench_app, ["stream", *args])
    assert result.exit_code == 0, result.output
    assert [(list(c["fresh_rates"]), c["drain"]) for c in calls] == [(rates, drain)]


def test_stream_refuses_a_freshness_rate_under_one_swipe_a_second() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(bench_app, ["stream", "--fresh-rate", "0"])
    assert result.exit_code != 0


@pytest.mark.parametrize(
    ("args", "kind"), [([], "auto"), (["--kind", "logistic"], "logistic"), (["--kind", "gbm"], "gbm")]
)
def test_scorer_serves_the_model_kind_asked_for(
    monkeypatch: pytest.MonkeyPatch, args: list[str], kind: str
) -> None:
    from typer.testing import CliRunner

    import bench.scorer

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(bench.scorer, "run", lambda **kwargs: calls.append(kwargs))
    result = CliRunner().invoke(bench_app, ["scorer", *args])
    assert result.exit_code == 0, result.output
    assert [c["kind"] for c in calls] == [kind]


def test_scorer_refuses_an_unknown_model_kind_naming_the_known_ones() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(bench_app, ["scorer", "--kind", "forest"])
    assert result.exit_code == 2
    said = " ".join(result.output.replace("│", " ").split())  # rich's error box wraps the text
    assert "logistic or gbm, not 'forest'" in said
