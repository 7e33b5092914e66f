"""`fraudstream shadow ...`: what the challenger (FRAUDSTREAM_SHADOW_MODEL / _RULES) would have done."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli.context import settings_of

shadow_app = typer.Typer(
    help="Compare the shadow challenger with the champion on the swipes both decided.",
    no_args_is_help=True,
)
console = Console(width=None if sys.stdout.isatty() else 160)


@shadow_app.command("report")
def report(
    ctx: typer.Context,
    since: Annotated[
        str,
        typer.Option(
            help="How far back to look at decisions (90s, 12h, 1d, 30d).", envvar="FRAUDSTREAM_SHADOW_SINCE"
        ),
    ] = "1d",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Agreement, the change in denials, and precision and recall of each side once labels arrived."""
    from scoring.training.shadow_compare import compare
    from services.training.delta_history import HistoryMissing
    from services.training.shadow_report import read_paired, report_rows
    from services.training.trainer import parse_duration
    from streaming.settings import StreamSettings
    from streaming.spark import build_session

    try:
        start = datetime.now(UTC) - parse_duration(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    settings = settings_of(ctx).get(StreamSettings)
    with console.status(f"reading Delta decisions since {start:%Y-%m-%d %H:%M} UTC"):
        spark = build_session("fraudstream-shadow-report", settings.jars_dir, master=settings.spark_master)
        try:
            comparison = compare(read_paired(spark, settings, start))
        except HistoryMissing as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        finally:
            spark.stop()
    if as_json:
        print(
            json.dumps(
                {
                    "since": start.isoformat(),
                    **asdict(comparison),
                    "denial_difference": comparison.denial_difference,
                }
            )
        )
        return
    if not comparison.swipes:
        console.print(
            f"no decision since {start:%Y-%m-%d %H:%M} UTC carries a challenger's: run the scorer "
            "with FRAUDSTREAM_SHADOW_MODEL or FRAUDSTREAM_SHADOW_RULES (and the feature job, which "
            "writes Delta decisions)"
        )
        return
    table = Table(title=f"champion vs challenger since {start:%Y-%m-%d %H:%M} UTC")
    for column in ("", "champion", "challenger"):
        table.add_column(column, justify="right" if column else "left")
    for row in report_rows(comparison):
        table.add_row(*row)
    console.print(table)
