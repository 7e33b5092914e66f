"""`fraudstream rules test` at its edges: read Delta history with Spark, print the table, write the HTML.

The counting is `backtest.rules`; this module reads the tables (`training.delta_history`) and
shows the result in the style of the backtest's report (`services.backtest.report`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from scoring.serving.rules import RuleSet
from services.backtest.rules import RuleCounts, RuleTestResult, count_rule_test, replayed_swipes
from services.training.delta_history import read_decisions, read_history
from streaming.card_state import FeatureConfig
from streaming.settings import StreamSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

HEADER = ("rule", "action", "matched", "fraud by label", "approved now")


@dataclass(frozen=True)
class RuleTest:
    """A rule test's inputs and result, what the report shows."""

    rules_path: Path
    since: datetime
    until: datetime
    decisions: int  # recorded decisions read for the period
    result: RuleTestResult


def run_rule_test(
    spark: SparkSession,
    settings: StreamSettings,
    rules_path: Path,
    rules: RuleSet,
    config: FeatureConfig,
    since: datetime,
    until: datetime,
) -> RuleTest:
    """The candidate `rules` over the Delta swipes of `[since, until)`, labels as reported by `until`.

    The swipes of the longest horizon before `since` are read too (as `train --source delta`
    does), so the first tested swipes' features see the card's recent past.
    """
    warm_up = timedelta(seconds=config.retention_s)
    history = read_history(spark, settings, since - warm_up, until)
    decisions = read_decisions(spark, settings, since, until)
    tested = replayed_swipes(history.swipes, decisions, history.labels, rules, config, since, until)
    return RuleTest(rules_path, since, until, len(decisions), count_rule_test(tested, rules))


def count_rows(result: RuleTestResult) -> list[tuple[str, ...]]:
    """The rows of the per-rule table, the total last; the console and the report show the same."""

    def row(c: RuleCounts) -> tuple[str, ...]:
        return (c.rule_id, c.action, f"{c.matched:,}", f"{c.fraud:,}", f"{c.approved:,}")

    return [row(c) for c in result.rules] + [row(result.total)]


def change_rows(result: RuleTestResult) -> list[tuple[str, str, str, str]]:
    """(figure, now, with the candidate, change)."""
    return [
        ("denials", f"{result.denied_now:,}", f"{result.denied_candidate:,}", f"{result.denials_change:+,}"),
        (
            "fraud caught (fraud denied)",
            f"{result.fraud_caught_now:,}",
            f"{result.fraud_caught_candidate:,}",
            f"{result.fraud_caught_change:+,}",
        ),
    ]


def summary_tables(test: RuleTest) -> tuple[Table, Table]:
    counts = Table(title=f"rule test of {test.rules_path}, {_period(test)}")
    for name in HEADER:
        counts.add_column(name, justify="left" if name in ("rule", "action") else "right")
    for values in count_rows(test.result):
        counts.add_row(*values)
    change = Table(title=f"{test.result.swipes:,} swipes, {test.result.fraud:,} fraud by label")
    for name in ("", "now", "with the candidate", "change"):
        change.add_column(name, justify="left" if not name else "right")
    for values in change_rows(test.result):
        change.add_row(*values)
    return counts, change


def _period(test: RuleTest) -> str:
    return f"{test.since:%Y-%m-%d %H:%M} to {test.until:%Y-%m-%d %H:%M} UTC"


def _html_table(table_id: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><tr>{head}</tr>{body}</table>'


def html_report(test: RuleTest) -> str:
    r = test.result
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fraudstream rule test</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>Rule test of {escape(str(test.rules_path))}</h1>
<p>Swipes of {_period(test)} in Delta <code>swipes</code>: {r.swipes:,}, of which {r.fraud:,} fraud by a
label reported by the period's end. {test.decisions:,} decisions recorded by the scorer for them; a swipe
without one was authorized elsewhere and counts as approved. Each swipe's rule inputs are recomputed
point in time from the card's earlier swipes (the fold training and the backtest use).</p>
<p>The candidate replaces the current rules: its deny rules deny, then its approve rules approve, then
the model's recorded verdict (score against threshold) stands; <code>review</code> rules only match.</p>
<h2>Per rule</h2>
<p>Swipes each rule matches; of those, fraud by label, and approved by the decision given then.</p>
{_html_table("rules", HEADER, count_rows(r))}
<h2>Change</h2>
{_html_table("change", ("", "now", "with the candidate", "change"), change_rows(r))}
</body></html>
"""
