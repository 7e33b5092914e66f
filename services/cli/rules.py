"""`fraudstream rules ...`: what a candidate rules file would have done to the swipes in Delta."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.cli.context import settings_of

rules_app = typer.Typer(
    help="Rules files: test a candidate against history before it goes live.", no_args_is_help=True
)
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


@rules_app.command("test")
def rule_test_command(
    ctx: typer.Context,
    candidate: Annotated[
        Path, typer.Argument(help="The candidate rules file (TOML, as FRAUDSTREAM_RULES_PATH).")
    ],
    since: Annotated[str, typer.Option(help="How far back from --until (90s, 12h, 30d).")] = "30d",
    until: Annotated[
        str | None, typer.Option(help="End of the tested period (UTC ISO date/time); default now.")
    ] = None,
    report: Annotated[Path, typer.Option(help="The HTML report.")] = Path("rule-test.html"),
) -> None:
    """Per rule and in total: swipes matched, of those fraud by label and approved now; the change in
    denials and in fraud caught. Reads Delta swipes, decisions and labels with Spark."""
    from scoring.serving.rules import context_names, load_rules
    from scoring.serving.settings import ScorerSettings
    from services.backtest.rules_report import html_report, run_rule_test, summary_tables
    from services.training.delta_history import HistoryMissing
    from services.training.trainer import parse_duration, parse_utc
    from streaming.settings import StreamSettings
    from streaming.spark import build_session

    scorer = settings_of(ctx).get(ScorerSettings)
    config = scorer.feature_config
    try:
        end = parse_utc(until) if until else datetime.now(UTC)
        start = end - parse_duration(since)
        rules = load_rules(candidate, context_names(config))
    except (ValueError, OSError) as exc:
        err.print(f"[red]rules test failed:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    stream = settings_of(ctx).get(StreamSettings)
    with console.status(f"starting Spark ({stream.spark_master})") as spinner:
        spark = build_session("fraudstream-rules-test", stream.jars_dir, master=stream.spark_master)
        try:
            spinner.update(f"reading Delta swipes, decisions and labels from {stream.delta_path}")
            result = run_rule_test(spark, stream, candidate, rules, config, start, end)
        except HistoryMissing as exc:
            err.print(f"[red]rules test failed:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
        finally:
            spark.stop()
    report.write_text(html_report(result), encoding="utf-8")
    for table in summary_tables(result):
        console.print(table)
    console.print(f"report: {report}")
