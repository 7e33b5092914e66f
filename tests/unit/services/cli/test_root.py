"""The CLI's user-facing contract: help, `status --json` keys, and errors that say what to do."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from foundation.tables import table_paths
from services.cli import app
from services.cli import root as cli
from services.kafka.broker import KafkaUnavailable
from services.stack import control as stack
from tests.unit.cli_help import options_without_env_var, own_help_line, printed_help_lines

runner = CliRunner()


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRAUDSTREAM_STATE_DIR", str(tmp_path))
    return tmp_path


COMMANDS = (
    "up",
    "down",
    "status",
    "stream",
    "backfill",
    "serve",
    "generate",
    "replay",
    "train",
    "demo",
    "backtest",
    "generate-file",
    "rules",
    "shadow",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_prints_each_command_with_its_own_help_line(command: str) -> None:
    assert printed_help_lines(app)[command] == own_help_line(app, command)


def test_help_lists_no_command_beyond_these() -> None:
    assert sorted(printed_help_lines(app)) == sorted(COMMANDS)


@pytest.mark.parametrize("command", [*COMMANDS, "replay stolen-card"])
def test_every_option_shows_its_env_var(command: str) -> None:
    assert options_without_env_var(app, command.split()) == []


def test_an_option_reads_its_env_var() -> None:
    result = runner.invoke(app, ["status"], env={"FRAUDSTREAM_STATUS_AS_JSON": "true"})
    assert result.exit_code == 0
    assert json.loads(result.output)["running"] is False


def test_up_help_names_the_supervised_mode_and_its_env_vars() -> None:
    result = runner.invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("--supervise", "--supervisor-port", "FRAUDSTREAM_SUPERVISOR_PORT", "FRAUDSTREAM_SUPERVISE"):
        assert text in result.output


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
        delta=table_paths(str(_state / "delta")),
    )
    info.save(_state / "stack.json")
    st = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert st["scorer"]["url"] == "http://127.0.0.1:8000"
    assert st["stream"]["pid"] == 999_999_999
    assert st["stream"]["alive"] is False  # no such process
    assert st["delta"]["swipes"] == str(_state / "delta" / "swipes")
    assert st["delta"]["decisions"] == str(_state / "delta" / "decisions")


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


@pytest.mark.parametrize(
    "error",
    [
        KafkaUnavailable("Kafka at 127.0.0.1:1 is not reachable; start it with `fraudstream up`"),
        stack.StackError("the scorer did not become ready within 120s; start it with `fraudstream up`"),
    ],
)
def test_an_error_the_user_can_fix_is_one_line_and_exit_code_1(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing_app() -> None:
        raise error

    monkeypatch.setattr(cli, "app", failing_app)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    printed = capsys.readouterr().err
    assert printed.startswith("error: ") and "`fraudstream up`" in printed
    assert "Traceback" not in printed


def test_any_other_error_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_app() -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "app", failing_app)
    with pytest.raises(ZeroDivisionError):
        cli.main()


def test_replay_without_a_running_stack_says_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kafka answers (stubbed), but no scorer listens: the replay stops before publishing anything.
    monkeypatch.setattr("services.generator.publish.check_reachable", lambda bootstrap, timeout_s=10.0: None)
    result = runner.invoke(
        app, ["replay", "stolen-card", "--scorer-url", f"http://127.0.0.1:{_closed_port()}"]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, stack.StackError)
    assert "start the stack with `fraudstream up`" in str(result.exception)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _text(output: str) -> str:
    """The output as one line of words: Typer's error box wraps long messages."""
    return " ".join(output.replace("│", " ").split())


def test_replay_of_a_missing_file_names_the_option(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.csv")
    result = runner.invoke(app, ["replay", "--file", missing, "--map", "card=a,amount=b,time=c"])
    assert result.exit_code == 2
    assert "Invalid value for --file" in _text(result.output) and "does not exist" in _text(result.output)


def test_replay_with_a_bad_mapping_names_the_option(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("pan,amt,ts\n4111111111111111,12.5,2026-11-01T10:00:00Z\n")
    result = runner.invoke(app, ["replay", "--file", str(path), "--map", "amount=amt,time=ts"])
    assert result.exit_code == 2
    assert "Invalid value for --map: --map is missing required key(s) card" in _text(result.output)


def test_shadow_report_refuses_a_bad_since_before_starting_spark() -> None:
    result = runner.invoke(app, ["shadow", "report", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "--since" in result.output and "7d" in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--ap-margin", "2"], "AP margin must be in [0, 1]"),
        (["--deny-rate-bound", "-0.1"], "deny-rate bound must be in [0, 1]"),
        (["--backtest-days", "0"], "--backtest-days must be positive"),
        (["--label-delay", "soon"], "is not a duration"),
    ],
)
def test_promote_if_better_refuses_a_bad_gate_before_starting_spark(args: list[str], says: str) -> None:
    result = runner.invoke(app, ["train", "--promote-if-better", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert says in result.output


def test_train_help_names_the_promotion_gate_and_its_env_vars() -> None:
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for text in (
        "--promote-if-better",
        "FRAUDSTREAM_PROMOTE_AP_MARGIN",
        "FRAUDSTREAM_PROMOTE_DENY_RATE_BOUND",
        "FRAUDSTREAM_PROMOTE_BACKTEST_DAYS",
    ):
        assert text in result.output
