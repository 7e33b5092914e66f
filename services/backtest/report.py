"""The backtest's outputs for people: the summary table on the console and a self-contained HTML report.

The plots (`services.backtest.plots`) are inline SVG: the precision-recall curve, the score
distributions of fraud and legitimate swipes, and the daily card precision@k.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.backtest.bootstrap import Interval
from services.backtest.metrics import ModelEval, ScenarioFigures
from services.backtest.plots import daily_precision_svg, pr_curve_svg, score_distribution_svg
from services.backtest.run import BacktestResult, BacktestSpec, run_backtest, write_scores
from streaming.card_state import FeatureConfig


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _interval(interval: Interval | None) -> str:
    return "-" if interval is None else f"[{interval.low:.3f}, {interval.high:.3f}]"


def resampling_note(result: BacktestResult) -> str:
    """What the intervals are, in one sentence; "" without a bootstrap."""
    r = result.model.resampling
    if r is None or r.replicates <= 0:
        return ""
    why = (
        "cards, since fraud clusters by card and card precision counts cards"
        if r.unit == "card"
        else "days, keeping each day's ranking whole"
    )
    return (
        f"Intervals: {r.level:.0%} percentile bootstrap, {r.replicates} resamples of the test period's "
        f"{why} (docs/operations.md#backtesting)."
    )


def summary_rows(result: BacktestResult) -> list[tuple[str, str, str]]:
    """(figure, model, baseline) rows: the console table and the report's table are the same."""
    m, b = result.model, result.baseline

    def both(fn: object) -> tuple[str, str]:
        return fn(m), fn(b)  # type: ignore[operator]

    def detected(e: ModelEval) -> str:
        return f"{e.detected}/{len(e.detections)}"

    def ci(figure: str, short: str) -> list[tuple[str, str, str]]:
        r = m.resampling
        if r is None or r.replicates <= 0:
            return []
        label = f"  {short}: {r.level:.0%} interval (by {r.unit})"  # unique: the bench keys rows by label
        return [(label, *both(lambda e: _interval(e.intervals.get(figure))))]

    return [
        ("ROC AUC", *both(lambda e: _num(e.roc_auc))),
        *ci("roc_auc", "AUC"),
        ("average precision", *both(lambda e: _num(e.average_precision))),
        *ci("average_precision", "AP"),
        ("operating threshold", *both(lambda e: _num(e.threshold, 4))),
        ("precision at the threshold", *both(lambda e: _num(e.at_threshold.precision))),
        ("recall at the threshold", *both(lambda e: _num(e.at_threshold.recall))),
        ("precision of denials (model + rules)", _num(m.denied.precision), "-"),
        ("recall of denials (model + rules)", _num(m.denied.recall), "-"),
        (f"card precision@{m.k} (mean per day{_found(result)})", *both(lambda e: _num(e.card_precision))),
        *ci("card_precision", f"CP@{m.k}"),
        (f"  best possible card precision@{m.k}", *both(lambda e: _num(e.card_precision_best))),
        ("compromised cards denied at least once", *both(detected)),
        ("  denied on their first fraudulent swipe", *both(lambda e: str(e.detected_at_once))),
        ("  fraudulent swipes approved on them", *both(lambda e: str(e.fraud_approved))),
        ("median detection delay", *both(lambda e: _delay(e.median_delay_s))),
    ]


def breakdown_rows(result: BacktestResult) -> list[tuple[str, ...]]:
    """Per scenario: frauds, cards, then the model's and the baseline's AP, AUC and recall."""
    base = {f.scenario: f for f in result.baseline.breakdown}

    def figures(f: ScenarioFigures | None) -> tuple[str, str, str]:
        if f is None:
            return "-", "-", "-"
        return _num(f.average_precision), _num(f.roc_auc), f"{f.recall:.3f}"

    return [
        (
            f.scenario,
            f"{f.fraud_swipes:,}",
            f"{f.cards_flagged}/{f.cards}",
            *figures(f),
            *figures(base.get(f.scenario)),
        )
        for f in result.model.breakdown
    ]


BREAKDOWN_HEADER = (
    "scenario",
    "fraud swipes",
    "cards flagged",
    "model AP",
    "model AUC",
    "model recall",
    "baseline AP",
    "baseline AUC",
    "baseline recall",
)


def breakdown_table(result: BacktestResult) -> Table:
    table = Table(title="by scenario: its frauds against every legitimate test swipe")
    for i, name in enumerate(BREAKDOWN_HEADER):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in breakdown_rows(result):
        table.add_row(*row)
    return table


def throughput_line(result: BacktestResult) -> str:
    stages = ", ".join(f"{name} {s:.1f} s" for name, s in result.seconds.items())
    return (
        f"{result.rows_read:,} rows in {result.total_seconds:.1f} s: {result.rows_per_s:,.0f} rows/s "
        f"({stages}; {result.spec.workers} worker process(es))"
    )


def selection_lines(result: BacktestResult) -> list[str]:
    """Which kind was kept and by how much on validation, each fitted kind on the test, the inputs."""
    lines = []
    if result.artifact.selection is not None:
        lines.append(f"model selection: {result.artifact.selection.summary()}")
    for kind, e in result.candidates.items():
        lines.append(f"  {kind} on the test period: AUC {_num(e.roc_auc)}, AP {_num(e.average_precision)}")
    fields = ", ".join(result.fields) or "none"
    merchant = "on" if result.artifact.reads_merchant else "off"
    lines.append(f"inputs: card, amount and time, plus the file's {fields}; merchant inputs {merchant}")
    return lines


def summary_table(result: BacktestResult) -> Table:
    spec = result.spec
    periods = (
        f"train {spec.train.first}..{spec.train.last}, delay {_days(spec)}, "
        f"test {spec.test.first}..{spec.test.last}"
    )
    table = Table(title=f"backtest: {periods}")
    table.add_column("")
    table.add_column(f"model ({spec.kind})", justify="right")
    table.add_column("amount-only LR", justify="right")
    for row in summary_rows(result):
        table.add_row(*row)
    table.caption = (
        f"train {result.train_rows:,} swipes ({result.train_fraud_known:,} known fraud), test "
        f"{result.test_rows:,} ({result.test_fraud:,} fraud), bad rows {result.bad_rows:,}. "
        + throughput_line(result)
        + (" " + resampling_note(result) if resampling_note(result) else "")
        + "\n"
        + "\n".join(selection_lines(result))
    )
    return table


def _found(result: BacktestResult) -> str:
    return ", found cards left out" if result.spec.known_cards == "found" else ""


def _left_out(spec: BacktestSpec) -> str:
    if spec.known_cards == "found":
        return "cards found in an earlier day's top k, or reported before the test,"
    return "cards whose fraud was reported before the day"


def _days(spec: BacktestSpec) -> str:
    days = spec.delay.total_seconds() / 86_400
    return f"{days:g} day" + ("" if days == 1 else "s")


def _when(t: float | None) -> str:
    return "never" if t is None else f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S}"


def html_report(result: BacktestResult) -> str:
    spec, m, b = result.spec, result.model, result.baseline
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(mv)}</td><td>{escape(bv)}</td></tr>"
        for name, mv, bv in summary_rows(result)
    )
    cards = "".join(
        f"<tr><td>{escape(d.card)}</td><td>{_when(d.first_fraud_t)}</td><td>{_when(d.detected_t)}</td>"
        f"<td>{_delay(d.delay_s)}</td><td>{d.fraud_swipes}</td><td>{d.fraud_approved}</td></tr>"
        for d in m.detections
    )
    rules = f"the rules of {spec.rules_path}" if spec.rules_path else "no rules"
    head = "".join(f"<th>{escape(h)}</th>" for h in BREAKDOWN_HEADER)
    scenario_rows = "".join(
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>" for row in breakdown_rows(result)
    )
    breakdown = (
        f"""<h2>By scenario</h2>
<p>Each scenario's fraudulent test swipes set against every legitimate test swipe: its own average
precision, ROC AUC and recall at the operating threshold; "cards flagged" are its cards with a
fraudulent swipe at or above the threshold.</p>
<table id="breakdown"><tr>{head}</tr>{scenario_rows}</table>"""
        if scenario_rows
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fraudstream backtest</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>Backtest of {escape(result.file)}</h1>
<p>Trained on {spec.train.first} to {spec.train.last}, then a delay of {_days(spec)}, tested on
{spec.test.first} to {spec.test.last}.
Model: <b>{escape(result.artifact.version)}</b> ({spec.kind}), operating threshold {m.threshold:.4f}, chosen
on the latest quarter of the train period. Decisions: the model's threshold with {escape(rules)} first,
as the scorer decides; {result.rule_denials:,} test swipes were denied by a rule.
Baseline: a logistic regression on the amount alone, trained and thresholded the same way.
Training ran as of the test's start, {spec.test.start:%Y-%m-%d %H:%M} UTC: frauds reported later
trained as legitimate, and swipes younger than the label delay ({spec.label_delay}) then were no
examples. {escape(resampling_note(result))}</p>
<p>Train: {result.train_rows:,} swipes, {result.train_fraud_known:,} known fraud. Test:
{result.test_rows:,} swipes, {result.test_fraud:,} fraud. Bad rows: {result.bad_rows:,}.
Throughput: {escape(throughput_line(result))}.</p>
<p id="selection">{"<br>".join(escape(line) for line in selection_lines(result))}</p>
<h2>Summary</h2>
<table id="summary"><tr><th></th><th>model ({spec.kind})</th><th>{escape(b.name)}</th></tr>{rows}</table>
{breakdown}
<h2>Precision-recall curve</h2>
{pr_curve_svg([m, b])}
<h2>Score distributions</h2>
{score_distribution_svg(m, "score-distribution")}
{score_distribution_svg(b, "score-distribution-baseline")}
<h2>Daily card precision@{m.k}</h2>
<p>Each day, the {m.k} cards with the highest score that day (each card once, {escape(_left_out(spec))}
left out), and the share of them with a fraudulent swipe that day. With
fewer compromised cards than {m.k} in a day, even a perfect ranking scores below 1: its mean here is
{_num(m.card_precision_best)}.</p>
{daily_precision_svg([m, b])}
<h2>Detection delay per compromised card (model)</h2>
<p>From the card's first fraudulent swipe in the test period to its first denied swipe; cards known
compromised before the test period are left out.</p>
<table id="detections"><tr><th>card</th><th>first fraud (UTC)</th><th>first denial (UTC)</th>
<th>delay</th><th>fraud swipes</th><th>fraud approved</th></tr>{cards}</table>
</body></html>
"""


def run_and_report(
    path: Path,
    mapping: str,
    spec: BacktestSpec,
    token_key: bytes,
    config: FeatureConfig,
    scores_path: Path,
    report_path: Path,
    console: Console,
) -> BacktestResult:
    """`fraudstream backtest`: run with a progress bar, write the scores and the HTML, print the table."""
    if scores_path.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"--scores {scores_path}: name it .csv or .parquet")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            for other, task in tasks.items():  # a new stage ends the earlier ones
                if other != stage:
                    bar.update(task, completed=bar.tasks[task].total or 1, total=bar.tasks[task].total or 1)
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        progress("reading " + path.name, 0, None)
        result = run_backtest(path, mapping, spec, token_key, config, progress=progress)
        progress("writing", 0, None)
        write_scores(result.scores, scores_path)
        report_path.write_text(html_report(result), encoding="utf-8")
    console.print(summary_table(result))
    if result.model.breakdown:
        console.print(breakdown_table(result))
    console.print(f"scores: {scores_path} ({len(result.scores):,} rows); report: {report_path}")
    return result
