"""Watching the model from /metrics: the score histogram, review flags, and the score drift gauge."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from scoring.serving.drift import SCORE_BINS, psi
from scoring.serving.model import publish_artifact
from tests.unit.scoring.builders import artifact
from tests.unit.scoring.serving.harness import Harness, body

REVIEW_RULE = """
[[rule]]
id = "big-amount"
action = "review"
description = "Over 100: a person looks."
when = [{ input = "amount", op = ">", value = 100 }]
"""


def in_bin(b: int) -> list[float]:
    return [1.0 if i == b else 0.0 for i in range(SCORE_BINS)]


@pytest.mark.parametrize(
    ("training", "expected"),
    [
        # every live score is sigmoid(1 - 4) = 0.047: bin 0
        (in_bin(0), 0.0),
        (in_bin(19), psi(in_bin(19), in_bin(0))),
        ([0.5 if i in (0, 1) else 0.0 for i in range(SCORE_BINS)], psi([0.5, 0.5] + [0.0] * 18, in_bin(0))),
    ],
    ids=["as-trained", "all-moved", "half-moved"],
)
def test_the_psi_gauge_compares_live_scores_with_the_models_validation_scores(
    tmp_path: Path, training: list[float], expected: float
) -> None:
    h = Harness(tmp_path, model=False, psi_min_scores=3)
    publish_artifact(artifact().model_copy(update={"score_shares": training}), tmp_path / "models")
    with h.client() as c:
        c.post("/v1/score", json=body(swipe_id="a", card_token="ct_" + "1" * 32))
        assert math.isnan(h.registry.get_sample_value("fraudstream_score_psi") or 0.0)  # too few yet
        for i in range(2):
            c.post("/v1/score", json=body(swipe_id=f"b{i}", card_token="ct_" + f"{i + 2}" * 32))
    assert h.registry.get_sample_value("fraudstream_score_psi") == pytest.approx(expected)
    assert h.registry.get_sample_value("fraudstream_model_score_count") == 3
    assert h.registry.get_sample_value("fraudstream_model_score_bucket", {"le": "0.05"}) == 3


def test_a_model_without_training_scores_has_no_psi(tmp_path: Path) -> None:
    h = Harness(tmp_path, psi_min_scores=1)  # builders' artifact: no score_shares
    with h.client() as c:
        c.post("/v1/score", json=body())
    value = h.registry.get_sample_value("fraudstream_score_psi")
    assert value is not None and math.isnan(value)
    assert h.registry.get_sample_value("fraudstream_model_score_count") == 1


def test_review_rules_are_counted_whatever_the_decision(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(REVIEW_RULE)
    h = Harness(tmp_path, rules_path=rules)
    with h.client() as c:
        assert c.post("/v1/score", json=body(swipe_id="small", amount=50)).json()["decision"] == "approve"
        big = c.post("/v1/score", json=body(swipe_id="big", amount=150)).json()
    assert big["decision"] == "approve" and any(r["code"] == "rule:big-amount" for r in big["reasons"])
    assert h.registry.get_sample_value("fraudstream_review_flags_total") == 1
    assert h.registry.get_sample_value("fraudstream_decisions_total", {"decision": "approve"}) == 2
