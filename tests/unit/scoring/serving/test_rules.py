"""Rules: parsing with errors that name the rule, clause semantics, and reload on change."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from scoring.serving.reload import WatchedFile
from scoring.serving.rules import Clause, RuleSet, context_names, load_rules, parse_rules
from scoring.serving.settings import DEFAULT_RULES_PATH
from tests.unit.scoring.builders import CFG

KNOWN = context_names(CFG)


def rule(clauses: str, action: str = "deny", rule_id: str = "r1") -> str:
    return f'[[rule]]\nid = "{rule_id}"\naction = "{action}"\nwhen = [{clauses}]\n'


def test_the_shipped_rules_load_against_the_default_inputs() -> None:
    from streaming.card_state import FeatureConfig

    rules = load_rules(DEFAULT_RULES_PATH, context_names(FeatureConfig()))
    ids = [r.id for r in rules.rules]
    assert {"stolen-card", "impossible-travel", "velocity-10m", "card-testing"} <= set(ids)
    travel = next(r for r in rules.rules if r.id == "impossible-travel")
    assert travel.fires({"travel_kmh": 5000.0, "distance_km": 5800.0})
    assert not travel.fires({"travel_kmh": 400.0, "distance_km": 800.0})
    assert not travel.fires({"travel_kmh": None, "distance_km": None})  # no previous position


@pytest.mark.parametrize(
    ("clause", "value", "holds"),
    [
        (Clause("amount", ">", 100.0), 100.5, True),
        (Clause("amount", ">", 100.0), 100.0, False),
        (Clause("amount", ">=", 100.0), 100.0, True),
        (Clause("amount", "<", 100.0), 5.0, True),
        (Clause("amount", "<=", 5.0), 5.0, True),
        (Clause("new_country", "==", 1.0), 1.0, True),
        (Clause("new_country", "!=", 1.0), 1.0, False),
        (Clause("country", "in", frozenset({"KP", "IR"})), "KP", True),
        (Clause("country", "not in", frozenset({"KP", "IR"})), "FR", True),
        (Clause("amount", ">", 100.0), None, False),  # unknown never fires
        (Clause("amount", ">", 100.0), "text", False),  # mismatched types never fire
    ],
)
def test_clause_table(clause: Clause, value: object, holds: bool) -> None:
    assert clause.holds({clause.input: value}) is holds  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (rule('{ input = "no_such_input", op = ">", value = 1 }'), "unknown input 'no_such_input'"),
        (rule('{ input = "amount", op = "=~", value = 1 }'), "unknown op"),
        (
            rule('{ input = "amount", op = ">", value = 1 }', action="block"),
            "must be deny, review or approve",
        ),
        (rule('{ input = "card_token", op = "in", list = "nope" }'), "no list named 'nope'"),
        (rule('{ input = "amount", op = ">", value = "1" }'), "'amount' is a number"),
        (rule('{ input = "country", op = "==", value = 1 }'), "'country' is text"),
        (rule('{ input = "amount", op = ">", value = true }'), "needs a number or string"),
        (rule(""), "non-empty array"),
        (rule('{ input = "amount", op = ">", value = 1 }') * 2, "unique"),
        ("[settings]\nx = 1\n", "unknown top-level keys"),
        (
            '[[rule]]\nid = "r"\naction = "deny"\nwhen = [{ input = "amount", op = ">", value = 1 }]\nif = 1',
            "unknown keys",
        ),
        ("this is not toml", "Expected"),
    ],
)
def test_bad_rules_are_rejected_with_a_message_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules(text, KNOWN)


def test_expressions_are_data_not_code() -> None:
    # A would-be expression is only ever compared as a string; nothing is evaluated.
    rules = parse_rules(rule('{ input = "merchant_id", op = "==", value = "__import__(\'os\')" }'), KNOWN)
    assert rules.fired({"merchant_id": "m1"}) == []


def _write(path: Path, text: str, tick: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(tick * 1_000_000_000, tick * 1_000_000_000))  # distinct mtimes without sleeping


def test_rules_reload_when_the_file_changes_and_a_bad_file_keeps_the_old(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rules.toml"
    _write(path, rule('{ input = "amount", op = ">", value = 100 }', rule_id="first"), 1)
    now = [0.0]
    watched: WatchedFile[RuleSet] = WatchedFile(
        path, lambda p: load_rules(p, KNOWN), check_interval_s=1.0, monotonic=lambda: now[0], what="rules"
    )
    assert [r.id for r in watched.current().rules] == ["first"]  # type: ignore[union-attr]

    _write(path, rule('{ input = "amount", op = ">", value = 100 }', rule_id="second"), 2)
    now[0] = 0.5  # within the check interval: not even a stat
    assert [r.id for r in watched.current().rules] == ["first"]  # type: ignore[union-attr]
    now[0] = 1.0
    assert [r.id for r in watched.current().rules] == ["second"]  # type: ignore[union-attr]

    with caplog.at_level(logging.ERROR, logger="fraudstream.scoring.reload"):
        _write(path, rule('{ input = "nope", op = ">", value = 1 }', rule_id="third"), 3)
        now[0] = 2.0
        assert [r.id for r in watched.current().rules] == ["second"]  # type: ignore[union-attr]
    assert watched.error is not None and "unknown input 'nope'" in watched.error
    assert "keeping the previous one" in caplog.text

    _write(path, rule('{ input = "amount", op = ">", value = 1 }', rule_id="fourth"), 4)
    now[0] = 3.0
    assert [r.id for r in watched.current().rules] == ["fourth"]  # type: ignore[union-attr]
    assert watched.error is None
