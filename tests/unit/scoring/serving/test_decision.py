"""The decision as a table: rules, model, degraded modes, and the fail-open/closed policy."""

from __future__ import annotations

from typing import Any

import pytest

from scoring.serving.decision import Degraded, decide
from scoring.serving.model import input_names
from scoring.serving.rules import parse_rules
from tests.unit.scoring.builders import CFG, TOKEN, artifact

STOLEN = "ct_" + "5" * 32
RULES = parse_rules(
    f"""
[lists]
stolen = ["{STOLEN}"]

[[rule]]
id = "stolen"
action = "deny"
description = "reported stolen"
when = [{{ input = "card_token", op = "in", list = "stolen" }}]

[[rule]]
id = "trusted-merchant"
action = "approve"
when = [{{ input = "merchant_id", op = "==", value = "m-trusted" }}]

[[rule]]
id = "big-amount"
action = "review"
when = [{{ input = "amount", op = ">", value = 1000 }}]
"""
)
# score = sigmoid(velocity_600_count - 4): 3 swipes -> 0.27, 6 swipes -> 0.88
MODEL = artifact({"velocity_600_count": 1.0}, threshold=0.5, intercept=-4.0)


def run(
    velocity: int = 3,
    card: str = TOKEN,
    merchant: str = "m1",
    amount: float = 20.0,
    model: Any = MODEL,
    degraded: Degraded = Degraded(),  # noqa: B008
    fail_open: bool = True,
    threshold: float | None = None,
) -> tuple[str, list[str], bool]:
    inputs = dict.fromkeys(input_names(CFG), 0.0) | {"velocity_600_count": float(velocity)}
    context: dict[str, float | str | None] = {
        **inputs,
        "card_token": card,
        "merchant_id": merchant,
        "amount": amount,
    }
    d = decide(inputs, context, model, RULES, degraded=degraded, fail_open=fail_open, threshold=threshold)
    return d.decision, [r.code for r in d.reasons], d.degraded


@pytest.mark.parametrize(
    ("kwargs", "decision", "codes", "degraded"),
    [
        ({}, "approve", ["model_score"], False),
        ({"velocity": 6}, "deny", ["model_score", "feature:velocity_600_count"], False),
        ({"velocity": 6, "threshold": 0.95}, "approve", ["model_score", "feature:velocity_600_count"], False),
        ({"card": STOLEN, "velocity": 1}, "deny", ["rule:stolen", "model_score"], False),
        (
            {"merchant": "m-trusted", "velocity": 6},
            "approve",
            ["rule:trusted-merchant", "model_score"],
            False,
        ),
        ({"merchant": "m-trusted", "card": STOLEN}, "deny", ["rule:stolen", "rule:trusted-merchant"], False),
        ({"amount": 5000.0}, "approve", ["rule:big-amount", "model_score"], False),
        ({"degraded": Degraded(features_missing=True)}, "approve", ["features_missing", "model_score"], True),
        ({"degraded": Degraded(features_stale=True), "velocity": 6}, "deny", ["features_stale"], True),
        ({"degraded": Degraded(features_catching_up=True)}, "approve", ["features_catching_up"], True),
        ({"model": None, "fail_open": True}, "approve", ["model_unavailable", "fail_open"], True),
        ({"model": None, "fail_open": False}, "deny", ["model_unavailable", "fail_closed"], True),
        (
            {"model": None, "fail_open": True, "card": STOLEN},
            "deny",
            ["rule:stolen", "model_unavailable"],
            True,
        ),
    ],
)
def test_decision_table(kwargs: dict[str, Any], decision: str, codes: list[str], degraded: bool) -> None:
    got_decision, got_codes, got_degraded = run(**kwargs)
    assert got_decision == decision
    assert [c for c in got_codes if c in codes] == codes  # present, in this order
    assert got_degraded is degraded
    if kwargs.get("model", MODEL) is None and "rule:stolen" in codes:
        assert not {"fail_open", "fail_closed"} & set(got_codes)  # a rule decided: no policy needed


def test_reasons_carry_the_feature_value_and_the_score() -> None:
    inputs = dict.fromkeys(input_names(CFG), 0.0) | {"velocity_600_count": 6.0}
    d = decide(inputs, inputs, MODEL, RULES, fail_open=True)
    by_code = {r.code: r for r in d.reasons}
    assert by_code["feature:velocity_600_count"].value == 6.0
    assert by_code["model_score"].value == pytest.approx(d.score)
    assert d.score == pytest.approx(1 / (1 + 2.718281828**-2), rel=1e-6)
    assert d.threshold == 0.5
