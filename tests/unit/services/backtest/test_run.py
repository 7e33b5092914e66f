"""The backtest: features as the scorer sees them (no leakage), training on known labels only,
deterministic scores, the report, and the CLI on a small CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.serving.model import input_names
from scoring.training.fit import labeled_rows
from services.backtest.data import BACKTEST_MAPPING, MINIMAL_MAPPING
from services.backtest.features import (
    VERDICT_APPROVE,
    VERDICT_DENY,
    VERDICT_NONE,
    feature_rows,
)
from services.backtest.model import decisions
from services.backtest.report import html_report, summary_rows
from services.backtest.run import (
    BacktestResult,
    BacktestSpec,
    Period,
    period_after_delay,
    read_file,
    run_backtest,
    split_mapping,
)
from services.cli import app
from services.replay.file import MappingError, map_rows
from tests.unit.services.backtest.builders import CONFIG, KEY, SPEC


def test_the_rows_are_the_training_replay_rows(history: Path) -> None:
    """The backtest's own fold loop (which also runs the rules) gives `labeled_rows`' inputs exactly."""
    cmap, reported = split_mapping(BACKTEST_MAPPING)
    frame = read_file(history, cmap, reported)
    table = feature_rows(frame, cmap, KEY, CONFIG, None)
    mapped = map_rows(frame.drop(columns=[c for c in frame if c.startswith("__")]), cmap, KEY, 1, "x")
    expected = list(labeled_rows(zip(mapped.swipes, [bool(v) for v in mapped.labels], strict=True), CONFIG))
    names = list(expected[0].inputs)
    assert len(table) == len(expected) == len(frame)
    assert np.array_equal(table.x, np.array([[r.inputs[n] for n in names] for r in expected]))
    assert table.categories == [dict(r.categories) for r in expected]
    assert table.y.tolist() == [r.is_fraud for r in expected]


def _one_card_csv(path: Path, amounts: Sequence[float], labels: list[int], countries: list[str]) -> Path:
    base = datetime(2026, 3, 1, 10, tzinfo=UTC)
    pd.DataFrame(
        {
            "tx": [f"t{i}" for i in range(len(amounts))],
            "acct": "acct-1",
            "amt": amounts,
            "ts": [(base + timedelta(minutes=7 * i)).isoformat() for i in range(len(amounts))],
            "country": countries,
            "fraud": labels,
        }
    ).to_csv(path, index=False)
    return path


ONE_CARD_MAP = "card=acct,amount=amt,time=ts,country=country,label=fraud,id=tx"


def _inputs(path: Path) -> np.ndarray:
    cmap, reported = split_mapping(ONE_CARD_MAP)
    return feature_rows(read_file(path, cmap, reported), cmap, KEY, CONFIG, None).x


def test_no_feature_sees_a_later_swipe(tmp_path: Path) -> None:
    """Changing the last swipe (amount, country) changes no earlier row's inputs, only its own."""
    before = _inputs(_one_card_csv(tmp_path / "a.csv", [10, 12, 11, 9, 13], [0] * 5, ["FR"] * 5))
    after = _inputs(_one_card_csv(tmp_path / "b.csv", [10, 12, 11, 9, 900], [0] * 5, ["FR"] * 4 + ["BR"]))
    assert np.array_equal(before[:4], after[:4])
    assert not np.array_equal(before[4], after[4])


def test_no_feature_sees_a_label(tmp_path: Path) -> None:
    """Flipping every label (the row's own and the others') leaves every input as it was."""
    amounts, countries = [10, 12, 11, 9, 13], ["FR"] * 5
    legit = _inputs(_one_card_csv(tmp_path / "a.csv", amounts, [0] * 5, countries))
    fraud = _inputs(_one_card_csv(tmp_path / "b.csv", amounts, [1, 0, 1, 1, 1], countries))
    assert np.array_equal(legit, fraud)


def test_a_bad_row_is_counted_with_its_file_row_and_not_folded(tmp_path: Path) -> None:
    path = _one_card_csv(tmp_path / "a.csv", [10, 12, 11, 9, 13], [0] * 5, ["FR"] * 5)
    frame = pd.read_csv(path, dtype=str)
    frame.loc[2, "amt"] = "twelve"
    frame.to_csv(path, index=False)
    cmap, reported = split_mapping(ONE_CARD_MAP)
    table = feature_rows(read_file(path, cmap, reported), cmap, KEY, CONFIG, None)
    assert table.row.tolist() == [1, 2, 4, 5]
    assert [(b.row, b.key) for b in table.bad] == [(3, "amount")]
    # the swipe after the bad row counts two earlier swipes and itself in the hour, not the bad one
    assert table.x[2, input_names(CONFIG).index("velocity_3600_count")] == 3.0


def test_test_period_labels_never_reach_the_model(
    history: Path, tmp_path: Path, result: BacktestResult
) -> None:
    frame = pd.read_parquet(history)
    in_test = frame["time"] >= pd.Timestamp(SPEC.test.start)
    frame.loc[in_test, "label"] = 1 - frame.loc[in_test, "label"]
    flipped = tmp_path / "flipped.parquet"
    frame.to_parquet(flipped)
    again = run_backtest(flipped, BACKTEST_MAPPING, SPEC, KEY, CONFIG)
    assert again.artifact == result.artifact
    # The card inputs never read a label: without the merchant inputs (which count the chargebacks
    # reported before each swipe, test period included, as the scorer's do) every score is the same.
    plain = replace(SPEC, merchant=None)
    assert np.array_equal(
        run_backtest(flipped, BACKTEST_MAPPING, plain, KEY, CONFIG).scores["score"],
        run_backtest(history, BACKTEST_MAPPING, plain, KEY, CONFIG).scores["score"],
    )


def test_a_label_reported_after_the_train_period_is_not_known_when_training(
    history: Path, tmp_path: Path, result: BacktestResult
) -> None:
    frame = pd.read_parquet(history)
    train_fraud = (frame["label"] == 1) & (frame["time"] < pd.Timestamp(SPEC.train.end))
    late = train_fraud & (frame["time"] >= pd.Timestamp(SPEC.train.end - timedelta(days=2)))
    frame.loc[late, "reported"] = pd.Timestamp(SPEC.test.end)
    frame.loc[train_fraud & ~late, "reported"] = pd.Timestamp(SPEC.train.end - timedelta(seconds=1))
    path = tmp_path / "late.parquet"
    frame.to_parquet(path)
    again = run_backtest(path, BACKTEST_MAPPING, SPEC, KEY, CONFIG)
    assert late.sum() > 0
    # the generated file's own report times: chargebacks days later, many after the train period
    known = train_fraud & (pd.read_parquet(history)["reported"] < pd.Timestamp(SPEC.train.end))
    assert result.train_fraud_known == int(known.sum()) < int(train_fraud.sum())
    assert again.train_fraud_known == int((train_fraud & ~late).sum())
    assert again.artifact != result.artifact


def test_swipes_younger_than_the_label_delay_are_no_examples(history: Path, result: BacktestResult) -> None:
    frame = pd.read_parquet(history)
    settled = frame["time"] < pd.Timestamp(SPEC.train.end - timedelta(hours=12))
    delayed = run_backtest(
        history, BACKTEST_MAPPING, replace(SPEC, label_delay=timedelta(hours=12)), KEY, CONFIG
    )
    assert delayed.train_rows == int(settled.sum()) < result.train_rows
    assert delayed.test_rows == result.test_rows


def test_same_input_same_scores_in_one_process_or_two(history: Path, result: BacktestResult) -> None:
    again = run_backtest(history, BACKTEST_MAPPING, SPEC, KEY, CONFIG)
    two = run_backtest(history, BACKTEST_MAPPING, replace(SPEC, workers=2), KEY, CONFIG)
    assert again.scores.equals(result.scores)
    assert two.scores.equals(result.scores)


def test_every_test_row_is_scored_once_with_the_files_id(history: Path, result: BacktestResult) -> None:
    frame = pd.read_parquet(history)
    in_test = (frame["time"] >= pd.Timestamp(SPEC.test.start)) & (frame["time"] < pd.Timestamp(SPEC.test.end))
    assert result.scores["id"].tolist() == frame.loc[in_test, "id"].tolist()
    assert result.scores["decision"].isin(["approve", "deny"]).all()
    assert result.test_fraud == int(frame.loc[in_test, "label"].sum()) > 0
    assert result.model.average_precision is not None and result.baseline.average_precision is not None


@pytest.mark.parametrize(
    ("verdict", "score", "decision"),
    [
        (VERDICT_DENY, 0.01, "deny"),  # a deny rule wins over a low score
        (VERDICT_APPROVE, 0.99, "approve"),  # an approve rule overrides the model
        (VERDICT_NONE, 0.50, "deny"),  # at the threshold: deny, as scoring.serving.decision.decide
        (VERDICT_NONE, 0.49, "approve"),
    ],
)
def test_decisions_follow_the_scorers_order(verdict: int, score: float, decision: str) -> None:
    assert decisions(np.array([verdict], dtype=np.int8), np.array([score]), 0.5).tolist() == [decision]


def test_the_report_has_the_three_plots_and_the_figures(result: BacktestResult) -> None:
    page = html_report(result)
    for plot in ('id="pr-curve"', 'id="score-distribution"', 'id="daily-card-precision"'):
        assert plot in page
    assert "<polyline" in page and "<rect" in page
    assert f"{result.model.average_precision:.3f}" in page
    assert f"{result.baseline.average_precision:.3f}" in page
    assert f"card precision@{SPEC.k}" in page
    assert page.count("<tr><td>ct_") == len(result.model.detections) > 0
    assert dict((r[0], r[1]) for r in summary_rows(result))["ROC AUC"] == f"{result.model.roc_auc:.3f}"


def test_the_mapping_needs_a_label_and_takes_a_report_time() -> None:
    cmap, reported = split_mapping("card=c,amount=a,time=t,label=l,reported=r")
    assert (cmap.label, reported) == ("l", "r")
    with pytest.raises(MappingError, match="label"):
        split_mapping("card=c,amount=a,time=t")


def test_the_test_period_must_follow_the_train_period() -> None:
    with pytest.raises(ValueError, match="must start after"):
        BacktestSpec(
            train=Period(date(2026, 3, 1), date(2026, 3, 8)), test=Period(date(2026, 3, 8), date(2026, 3, 9))
        )


def test_cli_backtests_a_csv(history: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(history).rename(columns={"id": "txn_id", "label": "is_fraud"})
    frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    csv = tmp_path / "transactions.csv"
    frame.drop(columns=["reported"]).to_csv(csv, index=False)
    out = tmp_path / "scores.csv"
    mapping = (
        "card=card,amount=amount,time=time,merchant=merchant,mcc=mcc,country=country,label=is_fraud,id=txn_id"
    )
    args = ["backtest", "--file", str(csv), "--map", mapping, "--scores", str(out), "--workers", "1"]
    args += ["--train-from", "2026-03-01", "--train-to", "2026-03-08", "--test-from", "2026-03-09"]
    outcome = CliRunner().invoke(app, [*args, "--test-to", "2026-03-12"])
    assert outcome.exit_code == 0, outcome.output
    scores = pd.read_csv(out)
    in_test = frame["time"] >= "2026-03-09"
    assert list(scores.columns) == ["txn_id", "score", "decision"]
    assert scores["txn_id"].tolist() == frame.loc[in_test, "txn_id"].tolist()
    assert scores["score"].between(0, 1).all()
    assert 'id="pr-curve"' in out.with_suffix(".html").read_text()
    assert "average precision" in outcome.output


def test_an_empty_test_period_is_an_error_that_names_it(history: Path) -> None:
    spec = replace(SPEC, test=Period(date(2026, 4, 1), date(2026, 4, 2)))
    with pytest.raises(
        ValueError, match=r"no transaction of history\.parquet falls in the test period 2026-04-01"
    ):
        run_backtest(history, BACKTEST_MAPPING, spec, KEY, CONFIG)


def _backtest_args(history: Path, scores: Path) -> list[str]:
    return ["backtest", "--file", str(history), "--map", BACKTEST_MAPPING, "--scores", str(scores)]


def test_cli_says_what_is_wrong_with_the_periods(history: Path, tmp_path: Path) -> None:
    args = _backtest_args(history, tmp_path / "s.csv")
    args += ["--train-from", "2026-03-01", "--train-to", "2026-03-08", "--test-from", "2026-03-05"]
    outcome = CliRunner().invoke(app, [*args, "--test-to", "2026-03-12"])
    assert outcome.exit_code == 2
    assert "must start after" in outcome.output


def test_cli_writes_a_minimal_file_that_backtests_with_only_its_five_keys(tmp_path: Path) -> None:
    path = tmp_path / "minimal.parquet"
    generate = ["generate-file", str(path), "--days", "12", "--cards", "150", "--start", "2026-03-01"]
    generate += ["--per-scenario", "3", "--seed", "3", "--profile", "minimal"]
    written = CliRunner().invoke(app, [*generate, "--scenario-mix", "terminal_compromise=2,stolen_card=1"])
    assert written.exit_code == 0, written.output
    assert MINIMAL_MAPPING in written.output.replace("\n", "")
    assert list(pd.read_parquet(path).columns) == ["card", "merchant", "amount", "time", "label"]
    out = tmp_path / "scores.csv"
    args = ["backtest", "--file", str(path), "--map", MINIMAL_MAPPING, "--scores", str(out), "--workers", "1"]
    args += ["--train-from", "2026-03-01", "--train-to", "2026-03-08", "--test-from", "2026-03-09"]
    outcome = CliRunner().invoke(app, [*args, "--test-to", "2026-03-12"])
    assert outcome.exit_code == 0, outcome.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["row", "score", "decision"]
    assert len(scores) == int((pd.read_parquet(path)["time"] >= pd.Timestamp("2026-03-09", tz="UTC")).sum())


def test_cli_refuses_a_bad_scenario_mix_naming_the_option(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(app, ["generate-file", str(tmp_path / "x.parquet"), "--scenario-mix", "x=1"])
    assert outcome.exit_code == 2
    assert "unknown" in outcome.output and not (tmp_path / "x.parquet").exists()


# train 3/1..3/7 (ends 3/8 00:00)   delay              test
#   0     -> 3/8                    12h -> 3/9 (the first midnight at or after 3/8 12:00)
#   1d    -> 3/9                    7d  -> 3/15        36h -> 3/10
@pytest.mark.parametrize(
    ("delay", "days", "first", "last"),
    [
        (timedelta(0), None, date(2026, 3, 8), date(2026, 3, 14)),
        (timedelta(hours=12), None, date(2026, 3, 9), date(2026, 3, 15)),
        (timedelta(days=1), None, date(2026, 3, 9), date(2026, 3, 15)),
        (timedelta(hours=36), 2, date(2026, 3, 10), date(2026, 3, 11)),
        (timedelta(days=7), None, date(2026, 3, 15), date(2026, 3, 21)),
    ],
)
def test_the_test_period_starts_the_delay_after_training(
    delay: timedelta, days: int | None, first: date, last: date
) -> None:
    train = Period(date(2026, 3, 1), date(2026, 3, 7))
    test = period_after_delay(train, delay, days)
    assert (test.first, test.last) == (first, last)
    assert BacktestSpec(train=train, test=test).delay >= delay


def test_a_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        period_after_delay(Period(date(2026, 3, 1), date(2026, 3, 7)), timedelta(days=-1))


def test_training_runs_as_of_the_tests_start_so_the_delay_brings_the_labels(
    history: Path, tmp_path: Path
) -> None:
    """A chargeback reported during the delay is known when training; without the delay it is not."""
    frame = pd.read_parquet(history)
    train = Period(date(2026, 3, 1), date(2026, 3, 7))
    train_fraud = (frame["label"] == 1) & (frame["time"] < pd.Timestamp(train.end))
    late = train_fraud & (frame["time"] >= pd.Timestamp(train.end - timedelta(days=1)))
    frame.loc[train_fraud, "reported"] = frame.loc[train_fraud, "time"]  # known at once...
    frame.loc[late, "reported"] = pd.Timestamp(train.end + timedelta(days=1, hours=12))  # ...or in the delay
    path = tmp_path / "reported_in_the_delay.parquet"
    frame.to_parquet(path)
    no_gap = replace(SPEC, train=train, test=period_after_delay(train, timedelta(0), 3), bootstrap=0)
    gap = replace(no_gap, test=period_after_delay(train, timedelta(days=2), 3))
    assert gap.delay == timedelta(days=2) and late.sum() > 0
    assert run_backtest(path, BACKTEST_MAPPING, no_gap, KEY, CONFIG).train_fraud_known == int(
        (train_fraud & ~late).sum()
    )
    with_delay = run_backtest(path, BACKTEST_MAPPING, gap, KEY, CONFIG)
    assert with_delay.train_fraud_known == int(train_fraud.sum())
    assert with_delay.scores["id"].isin(frame.loc[frame["time"] >= pd.Timestamp(gap.test.start), "id"]).all()


def test_the_summary_has_intervals_around_the_figures_and_the_report_a_breakdown(
    result: BacktestResult,
) -> None:
    m = result.model
    for figure, value in (
        ("roc_auc", m.roc_auc),
        ("average_precision", m.average_precision),
        ("card_precision", m.card_precision),
    ):
        interval = m.intervals[figure]
        assert interval is not None and value is not None
        assert interval.low <= value <= interval.high and interval.replicates > 100
    rows = summary_rows(result)
    labels = [r[0] for r in rows]
    assert {
        "  AUC: 95% interval (by card)",
        "  AP: 95% interval (by card)",
        f"  CP@{SPEC.k}: 95% interval (by card)",
    } <= set(labels)
    assert len(set(labels)) == len(labels)  # the bench keys the rows by label
    names = {f.scenario for f in m.breakdown}
    frame = pd.read_parquet(result.file)
    in_test = (frame["time"] >= pd.Timestamp(SPEC.test.start)) & (frame["time"] < pd.Timestamp(SPEC.test.end))
    assert names == set(frame.loc[in_test & (frame["label"] == 1), "scenario"])
    assert sum(f.fraud_swipes for f in m.breakdown) == result.test_fraud
    page = html_report(result)
    assert 'id="breakdown"' in page and "200 resamples of the test period" in page


def test_cli_takes_the_delay_and_derives_the_test_period(history: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    args = _backtest_args(history, out)
    args += ["--workers", "1", "--train-from", "2026-03-01", "--train-to", "2026-03-05", "--delay", "2d"]
    outcome = CliRunner().invoke(app, [*args, "--bootstrap", "50", "--bootstrap-by", "day"])
    assert outcome.exit_code == 0, outcome.output
    assert "delay 2 days" in outcome.output and "2026-03-08..2026-03-12" in outcome.output
    assert "by scenario" in outcome.output and "AUC: 95% interval (by day)" in outcome.output
    frame = pd.read_parquet(history)
    assert set(pd.read_parquet(out)["id"]) == set(frame.loc[frame["time"] >= "2026-03-08", "id"])


def test_cli_refuses_a_test_that_starts_inside_the_delay(history: Path, tmp_path: Path) -> None:
    args = _backtest_args(history, tmp_path / "s.csv")
    args += [
        "--train-from",
        "2026-03-01",
        "--train-to",
        "2026-03-05",
        "--delay",
        "7d",
        "--test-from",
        "2026-03-08",
    ]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 2
    assert "before the --delay 7d" in outcome.output


def test_found_cards_mode_counts_only_what_the_queue_found(history: Path, result: BacktestResult) -> None:
    found = run_backtest(
        history, BACKTEST_MAPPING, replace(SPEC, known_cards="found", bootstrap=0), KEY, CONFIG
    )
    assert found.scores.equals(result.scores)  # the same model and scores, only the queue differs
    assert [d.day_start for d in found.model.daily] == [d.day_start for d in result.model.daily]
    # a card reported during the test is still in the later days' queue unless the top k found it
    assert sum(d.cards for d in found.model.daily) >= sum(d.cards for d in result.model.daily)
    assert f"card precision@{SPEC.k} (mean per day, found cards left out)" in [
        r[0] for r in summary_rows(found)
    ]


def test_cli_refuses_an_unknown_known_cards_mode(history: Path, tmp_path: Path) -> None:
    args = _backtest_args(history, tmp_path / "s.csv")
    args += ["--train-from", "2026-03-01", "--train-to", "2026-03-08", "--known-cards", "detected"]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 2 and "reported or found" in outcome.output
