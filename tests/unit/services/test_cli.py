"""The CLI's user-facing contract: help, `status --json` keys, and errors that say what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services import stack
from services.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(tmp_path))
    return tmp_path


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in (
        "up",
        "down",
        "status",
        "demo",
        "stream",
        "serve",
        "generate",
        "replay",
        "train",
        "bench",
    ):
        assert command in result.output


def test_status_json_when_nothing_runs() -> None:
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0
    st = json.loads(result.output)
    assert st["running"] is False
    assert st["scorer"]["url"] is None and st["stream"]["pid"] is None


def test_status_json_reports_what_up_saved(_state: Path) -> None:
    info = stack.StackInfo(
        kafka=stack.Component("kafka", None, "b:9092"),
        stream=stack.Component("stream", 999_999_999, "http://127.0.0.1:9108/metrics"),
        scorer=stack.Component("scorer", 999_999_998, "http://127.0.0.1:8000"),
        delta=stack.delta_tables(str(_state / "delta")),
    )
    info.save(_state / "stack.json")
    st = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert st["scorer"]["url"] == "http://127.0.0.1:8000"
    assert st["stream"]["pid"] == 999_999_999
    assert st["stream"]["alive"] is False  # no such process
    assert st["delta"]["swipes"] == str(_state / "delta" / "swipes")


def test_down_with_nothing_running() -> None:
    result = runner.invoke(app, ["down"])
    assert result.exit_code == 0
    assert "nothing was running" in result.output


def test_generate_needs_a_count_or_a_duration() -> None:
    result = runner.invoke(app, ["generate"])
    assert result.exit_code != 0
    assert "--count or --duration" in result.output


def test_replay_needs_a_story_or_a_file() -> None:
    result = runner.invoke(app, ["replay", "lost-wallet"])
    assert result.exit_code != 0
    assert "stolen-card" in result.output
