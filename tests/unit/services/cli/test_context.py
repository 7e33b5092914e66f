"""Each command reads its settings from the Typer context: built once, on first use, or passed in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from foundation.settings import DEV_TOKEN_KEY, StackSettings
from services.cli import app
from services.cli.context import CommandSettings
from services.stack import control as stack
from streaming.settings import StreamSettings

runner = CliRunner()


def test_a_command_reads_the_settings_its_caller_put_in_the_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment names another folder: `status` reports the stack of the settings passed in.
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(tmp_path / "elsewhere"))
    given = CommandSettings()
    given.get(StackSettings, state_dir=tmp_path)
    stack.StackInfo(
        kafka=stack.Component("kafka", None, "b:9092"),
        stream=stack.Component("stream", None, "http://127.0.0.1:9108/metrics"),
        scorer=stack.Component("scorer", None, "http://127.0.0.1:8123"),
    ).save(tmp_path / "stack.json")
    result = runner.invoke(app, ["status", "--json"], obj=given)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["scorer"]["url"] == "http://127.0.0.1:8123"


def test_settings_are_built_once_per_command(tmp_path: Path) -> None:
    command = CommandSettings()
    first = command.get(StackSettings, state_dir=tmp_path)
    assert command.get(StackSettings) is first
    assert command.get(StreamSettings) is not first  # each class once, on first use


def test_the_development_token_key_is_warned_about_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = CommandSettings()
    command.get(StackSettings, warn_dev_key=True, state_dir=tmp_path, token_key=SecretStr(DEV_TOKEN_KEY))
    command.get(StackSettings, warn_dev_key=True)
    assert capsys.readouterr().err.count("FRAUDSTREAM_TOKEN_KEY is the development default") == 1
    secret = CommandSettings().get(
        StackSettings, warn_dev_key=True, state_dir=tmp_path, token_key=SecretStr("a" * 32)
    )
    assert secret.state_dir == tmp_path
    assert "development default" not in capsys.readouterr().err
