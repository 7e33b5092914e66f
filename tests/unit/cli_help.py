"""Reading a Typer app's `--help`: the help line printed beside each command, and the one it should print."""

from __future__ import annotations

import inspect
import re

import typer
from typer.testing import CliRunner

_ROW = re.compile(r"^│ (\S+)\s{2,}(.*?)\s*│$")
_MORE = re.compile(r"^│\s{3,}(.*?)\s*│$")


def printed_help_lines(app: typer.Typer) -> dict[str, str]:
    """Command name -> the help text `--help` prints on its row (wrapped lines joined)."""
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows: dict[str, str] = {}
    last = None
    in_commands = False
    for line in result.output.splitlines():
        if line.startswith("╭─ Commands"):
            in_commands = True
            continue
        if line.startswith("╰"):
            in_commands = False
            continue
        if not in_commands:
            continue
        if (row := _ROW.match(line)) is not None:
            last = row.group(1)
            rows[last] = row.group(2)
        elif last is not None and (more := _MORE.match(line)) is not None:
            rows[last] += " " + more.group(1)
    return rows


def own_help_line(app: typer.Typer, name: str) -> str:
    """The first paragraph of the docstring of command `name`, whitespace folded, as Typer prints it.

    A sub-app's line is its Typer help. Raises LookupError when the app has no such command.
    """
    for command in app.registered_commands:
        callback = command.callback
        assert callback is not None
        if (command.name or callback.__name__.replace("_", "-")) == name:
            doc = inspect.getdoc(callback) or ""
            return " ".join(doc.split("\n\n")[0].split())
    for group in app.registered_groups:  # a sub-app (`rules`, `shadow`): its own help text
        if group.name == name and group.typer_instance is not None:
            text = group.typer_instance.info.help
            return " ".join(str(text).split("\n\n")[0].split())
    raise LookupError(f"no command {name!r}")


def options_without_env_var(app: typer.Typer, command: list[str]) -> list[str]:
    """The options `command --help` lists without an `[env var: ...]` (--help itself aside)."""
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    blocks: dict[str, str] = {}
    last = None
    for line in result.output.splitlines():
        if (row := re.match(r"^│ (?:\*\s+)?(--[a-z-]+)", line)) is not None:
            last = row.group(1)
            blocks[last] = line
        elif last is not None and line.startswith("│    "):
            blocks[last] += line
        else:
            last = None
    assert blocks, f"no options in {' '.join(command)} --help"
    return [
        name for name, text in blocks.items() if name != "--help" and "[env var: FRAUDSTREAM_" not in text
    ]
