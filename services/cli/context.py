"""What the `fraudstream` commands share: the consoles, and each command's settings (`ctx.obj`)."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any, TypeVar

import typer
from rich.console import Console

from foundation.settings import DEV_TOKEN_KEY, StackSettings

# Tables are wide; when output is piped (CI logs), do not squeeze them into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)
StackSettingsT = TypeVar("StackSettingsT", bound=StackSettings)


class CommandSettings:
    """The settings one command reads: each class built on first use, then the same object passed down.

    Built when a command asks, not up front: `--help`, and a command that reads other settings, never
    build (or fail on) them.
    """

    def __init__(self) -> None:
        self._built: dict[type[StackSettings], StackSettings] = {}

    def get(self, kind: type[StackSettingsT], *, warn_dev_key: bool = False, **values: Any) -> StackSettingsT:
        """`kind(**values)` the first time, warning about the development token key if asked."""
        if kind not in self._built:
            built = kind(**values)
            self._built[kind] = warn_dev_key_of(built) if warn_dev_key else built
        settings = self._built[kind]
        assert isinstance(settings, kind)
        return settings


def settings_of(ctx: typer.Context) -> CommandSettings:
    """The command's settings holder (`ctx.obj`; a caller such as a test may pass its own)."""
    return ctx.ensure_object(CommandSettings)


def warn_dev_key_of(settings: StackSettingsT) -> StackSettingsT:
    if settings.token_key.get_secret_value() == DEV_TOKEN_KEY:
        err.print(
            "[yellow]warning:[/] FRAUDSTREAM_TOKEN_KEY is the development default; set a secret in production"
        )
    return settings


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} {value!r} is not a date; write it YYYY-MM-DD") from None
