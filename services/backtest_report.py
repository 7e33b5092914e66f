"""The backtest's outputs for people: the summary table on the console and a self-contained HTML report.

The plots are inline SVG drawn here (no plotting dependency, no external file): the precision-recall
curve, the score distributions of fraud and legitimate swipes, and the daily card precision@k.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.backtest import BacktestResult, BacktestSpec, run_backtest, write_scores
from services.backtest_metrics import HISTOGRAM_BINS, ModelEval
from streaming.card_state import FeatureConfig

COLOURS = ("#1f77b4", "#d62728", "#7f7f7f")
WIDTH, HEIGHT, PAD = 520, 300, 44


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def summary_rows(result: BacktestResult) -> list[tuple[str, str, str]]:
    """(figure, model, baseline) rows: the console table and the report's table are the same."""
    m, b = result.model, result.baseline

    def both(fn: object) -> tuple[str, str]:
        return fn(m), fn(b)  # type: ignore[operator]

    def detected(e: ModelEval) -> str:
        return f"{e.detected}/{len(e.detections)}"

    return [
        ("ROC AUC", *both(lambda e: _num(e.roc_auc))),
        ("average precision", *both(lambda e: _num(e.average_precision))),
        ("operating threshold", *both(lambda e: _num(e.threshold, 4))),
        ("precision at the threshold", *both(lambda e: _num(e.at_threshold.precision))),
        ("recall at the threshold", *both(lambda e: _num(e.at_threshold.recall))),
        ("precision of denials (model + rules)", _num(m.denied.precision), "-"),
        ("recall of denials (model + rules)", _num(m.denied.recall), "-"),
        (f"card precision@{m.k} (mean per day)", *both(lambda e: _num(e.card_precision))),
        (f"  best possible card precision@{m.k}", *both(lambda e: _num(e.card_precision_best))),
        ("compromised cards denied at least once", *both(detected)),
        ("  denied on their first fraudulent swipe", *both(lambda e: str(e.detected_at_once))),
        ("  fraudulent swipes approved on them", *both(lambda e: str(e.fraud_approved))),
        ("median detection delay", *both(lambda e: _delay(e.median_delay_s))),
    ]


def throughput_line(result: BacktestResult) -> str:
    stages = ", ".join(f"{name} {s:.1f} s" for name, s in result.seconds.items())
    return (
        f"{result.rows_read:,} rows in {result.total_seconds:.1f} s: {result.rows_per_s:,.0f} rows/s "
        f"({stages}; {result.spec.workers} worker process(es))"
    )


def summary_table(result: BacktestResult) -> Table:
    spec = result.spec
    periods = f"train {spec.train.first}..{spec.train.last}, test {spec.test.first}..{spec.test.last}"
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
    )
    return table


def _axes(x_label: str, y_label: str, y_max: float = 1.0) -> list[str]:
    x0, y0, x1, y1 = PAD, HEIGHT - PAD, WIDTH - 10, 10
    out = [
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>',
        f'<text x="{(x0 + x1) / 2}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{(y0 + y1) / 2}" transform="rotate(-90 12 {(y0 + y1) / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = y0 - frac * (y0 - y1)
        out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{frac * y_max:g}</text>')
    return out


def _px(x: float, y: float, y_max: float = 1.0) -> str:
    return f"{PAD + x * (WIDTH - 10 - PAD):.1f},{HEIGHT - PAD - (y / y_max) * (HEIGHT - PAD - 10):.1f}"


def _legend(names: Sequence[str]) -> list[str]:
    return [
        f'<text x="{WIDTH - 16}" y="{24 + 16 * i}" text-anchor="end" fill="{COLOURS[i]}">{escape(n)}</text>'
        for i, n in enumerate(names)
    ]


def _svg(svg_id: str, title: str, body: list[str]) -> str:
    return (
        f'<svg id="{svg_id}" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-size="11"><title>{escape(title)}</title>'
        + "".join(body)
        + "</svg>"
    )


def pr_curve_svg(evals: Sequence[ModelEval]) -> str:
    body = _axes("recall", "precision")
    for i, e in enumerate(evals):
        points = " ".join(_px(r, p) for r, p in zip(*e.curve, strict=True))
        body.append(f'<polyline fill="none" stroke="{COLOURS[i]}" stroke-width="1.5" points="{points}"/>')
    body += _legend([f"{e.name} (AP {_num(e.average_precision)})" for e in evals])
    return _svg("pr-curve", "precision-recall curve", body)


def score_distribution_svg(e: ModelEval, svg_id: str) -> str:
    """Per class, the share of its swipes in each score bin: the two classes on one scale."""
    shares = []
    for counts in (e.histogram_legit, e.histogram_fraud):
        total = sum(counts) or 1
        shares.append([c / total for c in counts])
    top = max(max(s) for s in shares) or 1.0
    body = _axes(f"{e.name} score", "share of the class's swipes", y_max=round(top, 3))
    width = (WIDTH - 10 - PAD) / HISTOGRAM_BINS
    for i, share in enumerate(shares):
        for b, s in enumerate(share):
            if s <= 0:
                continue
            x, y = _px(b / HISTOGRAM_BINS, s, top).split(",")
            h = HEIGHT - PAD - float(y)
            body.append(
                f'<rect x="{float(x) + i * width / 2:.1f}" y="{y}" width="{width / 2:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[i]}" fill-opacity="0.7"/>'
            )
    body += _legend(["legitimate", "fraud"])
    return _svg(svg_id, f"{e.name}: score distributions", body)


def daily_precision_svg(evals: Sequence[ModelEval]) -> str:
    body = _axes("test day", f"card precision@{evals[0].k}")
    days = sorted({d.day_start for e in evals for d in e.daily})
    span = max(len(days) - 1, 1)
    for i, e in enumerate(evals):
        index = {d.day_start: d for d in e.daily}
        points = " ".join(_px(j / span, index[day].precision) for j, day in enumerate(days) if day in index)
        body.append(f'<polyline fill="none" stroke="{COLOURS[i]}" stroke-width="1.5" points="{points}"/>')
    if days:
        first, last = (datetime.fromtimestamp(d, UTC).date() for d in (days[0], days[-1]))
        body.append(f'<text x="{PAD}" y="{HEIGHT - PAD + 14}">{first}</text>')
        body.append(f'<text x="{WIDTH - 10}" y="{HEIGHT - PAD + 14}" text-anchor="end">{last}</text>')
    body += _legend([f"{e.name} (mean {_num(e.card_precision)})" for e in evals])
    return _svg("daily-card-precision", "daily card precision", body)


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
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fraudstream backtest</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>Backtest of {escape(result.file)}</h1>
<p>Trained on {spec.train.first} to {spec.train.last}, tested on {spec.test.first} to {spec.test.last}.
Model: <b>{escape(result.artifact.version)}</b> ({spec.kind}), operating threshold {m.threshold:.4f}, chosen
on the latest quarter of the train period. Decisions: the model's threshold with {escape(rules)} first,
as the scorer decides; {result.rule_denials:,} test swipes were denied by a rule.
Baseline: a logistic regression on the amount alone, trained and thresholded the same way.
Training ran as of {spec.train.end:%Y-%m-%d %H:%M} UTC: frauds reported later trained as legitimate,
and swipes younger than the label delay ({spec.label_delay}) were no examples.</p>
<p>Train: {result.train_rows:,} swipes, {result.train_fraud_known:,} known fraud. Test:
{result.test_rows:,} swipes, {result.test_fraud:,} fraud. Bad rows: {result.bad_rows:,}.
Throughput: {escape(throughput_line(result))}.</p>
<h2>Summary</h2>
<table id="summary"><tr><th></th><th>model ({spec.kind})</th><th>{escape(b.name)}</th></tr>{rows}</table>
<h2>Precision-recall curve</h2>
{pr_curve_svg([m, b])}
<h2>Score distributions</h2>
{score_distribution_svg(m, "score-distribution")}
{score_distribution_svg(b, "score-distribution-baseline")}
<h2>Daily card precision@{m.k}</h2>
<p>Each day, the {m.k} cards with the highest score that day (each card once, cards whose fraud was
reported before the day left out), and the share of them with a fraudulent swipe that day. With
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
    console.print(f"scores: {scores_path} ({len(result.scores):,} rows); report: {report_path}")
    return result
