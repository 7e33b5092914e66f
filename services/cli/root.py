"""The `fraudstream` command line: run the stack, generate and replay traffic, train, backtest.

The root app. The commands live in one module per concern (stack, traffic, train, backtest, and the
rules and shadow sub-apps) and are registered here in the order `--help` lists them. Each command
reads its settings from the Typer context (`services.cli.context.settings_of`), built once.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from foundation.settings import setting_problems
from services.cli import backtest, stack, traffic, train
from services.cli.context import err
from services.cli.rules import rules_app
from services.cli.shadow import shadow_app
from services.stack import control as stack_control

app = typer.Typer(
    name="fraudstream",
    help="Real-time card-fraud decisions: Kafka swipes, Spark streaming features, a FastAPI scorer.",
    no_args_is_help=True,
    add_completion=False,
    # Every option also reads FRAUDSTREAM_<COMMAND>_<OPTION> (one that names a setting, its setting's
    # variable), and --help shows which.
    context_settings={"auto_envvar_prefix": "FRAUDSTREAM"},
)
for command in (
    stack.up,
    stack.down,
    stack.status,
    stack.stream,
    stack.backfill,
    stack.serve,
    traffic.generate,
    traffic.replay,
    train.train,
    traffic.demo,
    backtest.backtest,
):
    app.command()(command)
app.command("generate-file")(backtest.generate_file)
# Rules files against history: `fraudstream rules test`.
app.add_typer(rules_app, name="rules")
# The challenger's comparison (services/cli/shadow.py): `fraudstream shadow report`.
app.add_typer(shadow_app, name="shadow")


def main() -> None:
    """The `fraudstream` entry point: errors the user can fix print one line, not a traceback.

    A bad FRAUDSTREAM_* setting exits with code 2, as a bad flag does; an unreachable component with 1.
    """
    from pydantic import ValidationError

    from services.kafka.broker import KafkaUnavailable

    _log_to_stderr(os.environ.get("FRAUDSTREAM_LOG_LEVEL", "WARNING"))
    try:
        app()
    except (KafkaUnavailable, stack_control.StackError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except ValidationError as exc:
        problems = setting_problems(exc)
        if problems is None:
            raise
        for problem in problems:
            err.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
        sys.exit(2)


def _log_to_stderr(level: str) -> None:
    """The CLI's own logging, Kafka clients' included: WARNING and up unless FRAUDSTREAM_LOG_LEVEL says."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    known = logging.getLevelName(level.upper())
    logging.basicConfig(level=known if isinstance(known, int) else logging.WARNING, handlers=[handler])


if __name__ == "__main__":
    app()
