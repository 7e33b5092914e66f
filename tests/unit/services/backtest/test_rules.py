"""The rule test's counting (a table), the candidate's precedence, and the point-in-time replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scoring.serving.rules import parse_rules
from services.backtest.rules import (
    ALL_RULES,
    RecordedDecision,
    ReplayedSwipe,
    RuleCounts,
    candidate_verdict,
    count_rule_test,
    newest_decisions,
    replayed_swipes,
)
from services.backtest.rules_report import RuleTest, count_rows, html_report
from services.cli import app
from streaming.card_state import FeatureConfig
from streaming.schema import Label, Swipe

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TOKEN = "ct_" + "ab" * 16
RULES = parse_rules(
    """
[[rule]]
id = "big"
action = "deny"
when = [{ input = "amount", op = ">", value = 500 }]

[[rule]]
id = "abroad"
action = "review"
when = [{ input = "country", op = "!=", value = "FR" }]

[[rule]]
id = "trusted"
action = "approve"
when = [{ input = "merchant_id", op = "==", value = "m-trusted" }]
"""
)


def row(i: int, fired: str, fraud: bool, current: str, model: str) -> ReplayedSwipe:
    return ReplayedSwipe(
        f"s{i}",
        frozenset(fired.split()),
        fraud,
        current,  # type: ignore[arg-type]
        model,  # type: ignore[arg-type]
    )


# id | rules fired    | fraud | current | model verdict | candidate verdict (by precedence)
TABLE = [
    row(1, "big", True, "approve", "approve"),  # deny: fraud newly caught
    row(2, "big abroad", True, "deny", "deny"),  # deny: already caught
    row(3, "big", False, "approve", "approve"),  # deny: a new false denial
    row(4, "abroad", False, "approve", "approve"),  # review only: approve
    row(5, "trusted", False, "deny", "deny"),  # approve overrides the model: one denial fewer
    row(6, "big trusted", True, "approve", "approve"),  # deny beats approve
    row(7, "", True, "deny", "deny"),  # no rule: the model's deny stands
    row(8, "", False, "deny", "approve"),  # the current rules denied it, the candidate's do not
    row(9, "", False, "approve", "approve"),
]


def test_the_counts_per_rule_and_in_total() -> None:
    result = count_rule_test(TABLE, RULES)
    assert result.rules == (
        RuleCounts("big", "deny", matched=4, fraud=3, approved=3),
        RuleCounts("abroad", "review", matched=2, fraud=1, approved=1),
        RuleCounts("trusted", "approve", matched=2, fraud=1, approved=1),
    )
    assert result.total == RuleCounts(ALL_RULES, "", matched=6, fraud=3, approved=4)
    assert (result.swipes, result.fraud) == (9, 4)
    # now denied: 2, 5, 7, 8; with the candidate: 1, 2, 3, 6, 7
    assert (result.denied_now, result.denied_candidate, result.denials_change) == (4, 5, 1)
    # fraud denied now: 2, 7; with the candidate: 1, 2, 6, 7
    assert (result.fraud_caught_now, result.fraud_caught_candidate, result.fraud_caught_change) == (2, 4, 2)


def test_an_empty_period_counts_nothing() -> None:
    result = count_rule_test([], RULES)
    assert [r.matched for r in result.rules] == [0, 0, 0]
    assert (result.total.matched, result.swipes, result.denials_change, result.fraud_caught_change) == (
        0,
        0,
        0,
        0,
    )


@pytest.mark.parametrize(
    ("actions", "model", "expected"),
    [
        ((), "approve", "approve"),
        ((), "deny", "deny"),
        (("review",), "deny", "deny"),
        (("approve",), "deny", "approve"),
        (("approve", "deny"), "approve", "deny"),
        (("deny",), "approve", "deny"),
    ],
)
def test_the_candidate_decides_as_the_scorer_does(
    actions: tuple[str, ...], model: str, expected: str
) -> None:
    assert candidate_verdict(actions, model) == expected  # type: ignore[arg-type]


def decision(swipe_id: str, verdict: str, score: float | None, seconds: float) -> RecordedDecision:
    return RecordedDecision(
        swipe_id,
        verdict,  # type: ignore[arg-type]
        score,
        0.5 if score is not None else None,
        T0 + timedelta(seconds=seconds),
    )


@pytest.mark.parametrize(
    ("score", "verdict", "model"),
    [(0.9, "deny", "deny"), (0.5, "deny", "deny"), (0.49, "deny", "approve"), (None, "deny", None)],
)
def test_the_recorded_model_verdict(score: float | None, verdict: str, model: str | None) -> None:
    assert decision("s1", verdict, score, 0).model_verdict == model


def test_a_retried_swipe_keeps_its_newest_decision() -> None:
    newest = newest_decisions(
        [decision("s1", "deny", 0.9, 5), decision("s1", "approve", 0.1, 9), decision("s1", "deny", 0.9, 7)]
    )
    assert newest["s1"].decision == "approve"


def swipe(i: int, minutes: float, amount: float = 20.0, decided: str | None = None) -> Swipe:
    return Swipe(
        swipe_id=f"s{i}",
        card_token=TOKEN,
        amount=amount,
        currency="EUR",
        merchant_id="m1",
        mcc="5411",
        country="FR",
        event_time=T0 + timedelta(minutes=minutes),
        decision=decided,  # type: ignore[arg-type]
    )


def test_the_replay_sees_only_earlier_swipes_and_only_the_tested_period() -> None:
    rules = parse_rules(
        """
[[rule]]
id = "burst"
action = "deny"
when = [{ input = "velocity_600_count", op = ">=", value = 3 }]
"""
    )
    # s0 s1 in the warm-up; s2 s3 s4 tested. velocity_600_count counts the card's swipes of the
    # 10 minutes up to a swipe, itself included: s2 counts s1 s2 (2), s3 s1 s2 s3 (3), s4 itself.
    swipes = [swipe(0, 0), swipe(1, 50), swipe(2, 55), swipe(3, 57, decided="deny"), swipe(4, 90)]
    label = Label.of(swipes[3], is_fraud=True, scenario="x", reported_at=T0 + timedelta(days=2))
    legit = Label.of(swipes[2], is_fraud=False, scenario="", reported_at=T0 + timedelta(days=2))
    out = replayed_swipes(
        reversed(swipes),
        [decision("s4", "deny", 0.2, 0)],
        [label, legit],
        rules,
        FeatureConfig(),
        T0 + timedelta(minutes=52),
        T0 + timedelta(minutes=100),
    )
    assert [(t.swipe_id, sorted(t.fired), t.is_fraud, t.current, t.model) for t in out] == [
        ("s2", [], False, "approve", "approve"),  # authorized elsewhere: approved
        ("s3", ["burst"], True, "deny", "deny"),  # the swipe's own decision, no recorded score
        ("s4", [], False, "deny", "approve"),  # recorded: denied by a rule, the model said approve
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "a month"], "not a duration"),
        (["--until", "yesterday"], "not an ISO date"),
    ],
)
def test_the_command_refuses_bad_options_before_starting_spark(
    tmp_path: Path, args: list[str], says: str
) -> None:
    candidate = tmp_path / "candidate.toml"
    candidate.write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "test", str(candidate), *args])
    assert result.exit_code == 2
    assert says in result.output


def test_the_command_names_what_is_wrong_with_the_candidate(tmp_path: Path) -> None:
    candidate = tmp_path / "candidate.toml"
    candidate.write_text('[[rule]]\nid = "x"\naction = "block"\nwhen = []\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "test", str(candidate)])
    assert result.exit_code == 2
    assert "`action` must be deny, review or approve" in result.output


def test_the_report_shows_the_counts_and_escapes_the_path() -> None:
    result = count_rule_test(TABLE, RULES)
    page = html_report(RuleTest(Path("<candidate>.toml"), T0, T0 + timedelta(days=30), 7, result))
    assert "&lt;candidate&gt;.toml" in page and "<candidate>" not in page
    assert "<td>big</td><td>deny</td><td>4</td><td>3</td><td>3</td>" in page
    assert "<td>all rules</td><td></td><td>6</td><td>3</td><td>4</td>" in page
    assert "<td>denials</td><td>4</td><td>5</td><td>+1</td>" in page
    assert "<td>fraud caught (fraud denied)</td><td>2</td><td>4</td><td>+2</td>" in page
    assert count_rows(result)[-1][0] == ALL_RULES
