"""The printing side of `fraudstream train --promote-if-better` (training/promotion.py does the work)."""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.console import Console
from rich.table import Table

from scoring.training.selection import ModelKind
from services.cli.context import CommandSettings
from services.training.promotion import PromotionReport

WindowOptions = tuple[
    str | None, float, str | None, str, float
]  # --to, --days, --as-of, --label-delay, backtest


def train_and_gate(
    command: CommandSettings,
    console: Console,
    kind: ModelKind,
    window_options: WindowOptions,
    gate_options: tuple[float, float],
    merchant_features: bool,
    seed: int,
) -> PromotionReport:
    """Build the window and gate from the options, run the promotion with Spark, print the outcome."""
    from scoring.serving.settings import ScorerSettings
    from scoring.training.promotion import Gate
    from services.training import trainer
    from services.training.delta_history import HistoryMissing
    from services.training.promotion import promote_if_better
    from streaming.settings import StreamSettings
    from streaming.spark import build_session

    to, days, as_of, label_delay, backtest_days = window_options
    try:
        gate = Gate(*gate_options)
        window, cutoff = trainer.delta_window(to, days, as_of, label_delay)
        if backtest_days <= 0:
            raise ValueError(f"--backtest-days must be positive, e.g. 2, not {backtest_days:g}")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings, stream = command.get(ScorerSettings), command.get(StreamSettings)
    with console.status("training the candidate") as spinner:
        spark = build_session("fraudstream-promote", stream.jars_dir, master=stream.spark_master)
        try:
            report = promote_if_better(
                spark,
                stream,
                settings.resolved_model_path.parent,
                settings.feature_config,
                window,
                cutoff,
                gate=gate,
                backtest=timedelta(days=backtest_days),
                merchant=settings.merchant_config,
                merchant_features=merchant_features,
                kind=kind,
                seed=seed,
                progress=lambda m: spinner.update(m),
            )
        except (ValueError, HistoryMissing) as exc:  # no history, or too little: say what to do
            console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        finally:
            spark.stop()
    print_report(console, report)
    return report


def print_report(console: Console, report: PromotionReport) -> None:
    start, end = report.backtest
    table = Table(
        title=f"backtest {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: "
        f"{report.backtest_swipes:,} swipes, {report.backtest_frauds:,} fraud"
    )
    for column in ("model", "version", "average precision", "deny rate", "threshold"):
        table.add_column(column, justify="left" if column in ("model", "version") else "right")
    rows = [("candidate", report.candidate_figures), ("serving", report.champion_figures)]
    for role, f in rows:
        if f is None:
            table.add_row(role, "(none)", "-", "-", "-")
            continue
        ap = "-" if f.average_precision is None else f"{f.average_precision:.4f}"
        table.add_row(role, f.version, ap, f"{f.deny_rate:.4f}", f"{f.threshold:.3f}")
    console.print(table)
    outcome = "[bold green]promoted[/]" if report.verdict.promote else "[bold yellow]not promoted[/]"
    console.print(f"{outcome}: {report.verdict.reason}")
    console.print(f"comparison written to {report.comparison_path}")
