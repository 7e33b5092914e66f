"""The challenger: decided on the champion's inputs, recorded beside its decision, never answered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scoring.serving.decision import Degraded
from scoring.serving.model import ModelArtifact
from scoring.serving.rules import parse_rules
from scoring.serving.shadow import Challenger
from tests.unit.scoring.builders import TOKEN, artifact
from tests.unit.scoring.serving.harness import Harness, body

DENY_RULE = """
[[rule]]
id = "big-amount"
action = "deny"
description = "More than 100."
when = [{ input = "amount", op = ">", value = 100 }]
"""


def model(version: str, intercept: float, threshold: float = 0.5) -> ModelArtifact:
    # velocity_600_count = 1 in every case below: score = sigmoid(intercept + 1)
    return artifact({"velocity_600_count": 1.0}, threshold=threshold, intercept=intercept).model_copy(
        update={"version": version}
    )


@pytest.mark.parametrize(
    ("shadow_model", "shadow_rules", "amount", "threshold", "expected"),
    [
        # champion: "champ" scores sigmoid(-3) = 0.047 < 0.5, no rules -> approve
        (model("shadow", 2.0), None, 50.0, None, ("deny", "shadow", None)),  # sigmoid(3) = 0.95
        (model("shadow", -6.0), None, 50.0, None, ("approve", "shadow", None)),
        # shadow rules alone: the champion's model, the challenger's rules
        (None, DENY_RULE, 150.0, None, ("deny", "champ", "rules.toml")),
        (None, DENY_RULE, 50.0, None, ("approve", "champ", "rules.toml")),
        # the champion's threshold override applies to the champion's model, not a shadow one
        (None, DENY_RULE, 50.0, 0.01, ("deny", "champ", "rules.toml")),
        (model("shadow", -3.0, threshold=0.5), None, 50.0, 0.01, ("approve", "shadow", None)),
        # both: a rule denies whatever the shadow model says
        (model("shadow", -6.0), DENY_RULE, 150.0, None, ("deny", "shadow", "rules.toml")),
    ],
    ids=["model-denies", "model-approves", "rule-fires", "rule-quiet", "override", "own-threshold", "both"],
)
def test_the_challenger_swaps_in_what_it_has_and_keeps_the_champions_rest(
    tmp_path: Path,
    shadow_model: ModelArtifact | None,
    shadow_rules: str | None,
    amount: float,
    threshold: float | None,
    expected: tuple[str, str, str | None],
) -> None:
    model_path = rules_path = None
    if shadow_model is not None:
        model_path = tmp_path / "shadow.json"
        model_path.write_text(shadow_model.to_json())
    if shadow_rules is not None:
        rules_path = tmp_path / "rules.toml"
        rules_path.write_text(shadow_rules)
    challenger = Challenger.of(model_path, rules_path, ModelArtifact.load, {"amount"}, 0)
    assert challenger is not None
    out = challenger.decide(
        {"velocity_600_count": 1.0},
        {"amount": amount},
        model("champ", -4.0),
        parse_rules(""),
        degraded=Degraded(),
        fail_open=True,
        threshold=threshold,
    )
    decision, version, rules = expected
    assert (out.decision, out.model_version) == (decision, version)
    assert out.rules == (str(tmp_path / rules) if rules else None)
    assert any(r.code == "model_score" for r in out.reasons)


def test_no_shadow_setting_means_no_challenger() -> None:
    assert Challenger.of(None, None, ModelArtifact.load, set(), 0) is None


def published(h: Harness) -> dict[str, Any]:
    return {t: json.loads(v) for t, _, v in h.producer.records}


def test_the_shadow_decision_is_recorded_beside_the_champions_and_never_answered(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow.json"
    shadow.write_text(model("shadow-1", 6.0).to_json())  # denies everything
    h = Harness(tmp_path, shadow_model_path=shadow)
    with h.client() as c:
        r = c.post("/v1/score", json=body())
        metrics = c.get("/metrics").text
    answer = r.json()
    assert answer["decision"] == "approve" and "shadow" not in answer  # velocity 1: sigmoid(-3)
    record = published(h)["decisions"]
    assert record["decision"] == "approve" and record["model_version"] == "test-1"
    assert record["shadow"]["decision"] == "deny" and record["shadow"]["model_version"] == "shadow-1"
    assert record["shadow"]["score"] > 0.99
    assert 'fraudstream_model_info{role="challenger",version="shadow-1"} 1.0' in metrics
    assert 'fraudstream_model_info{role="champion",version="test-1"} 1.0' in metrics


def test_the_decision_record_waits_for_the_after_response_work(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow.json"
    shadow.write_text(model("shadow-1", 6.0).to_json())
    h = Harness(tmp_path, shadow_model_path=shadow)
    with h.client() as c:
        scorer = c.app.state.scorer  # type: ignore[attr-defined]
        response, after = scorer.decide(body_request(), TOKEN)
        assert response.decision == "approve"
        assert [t for t, _, _ in h.producer.records] == ["swipes"]  # the swipe at once, for the tiles
        assert after is not None
        after()
    assert [t for t, _, _ in h.producer.records] == ["swipes", "decisions"]
    assert published(h)["decisions"]["shadow"]["decision"] == "deny"


def test_without_a_shadow_the_record_is_published_at_once_and_has_none(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with h.client() as c:
        response, after = c.app.state.scorer.decide(body_request(), TOKEN)  # type: ignore[attr-defined]
    assert after is None and response.decision == "approve"
    assert published(h)["decisions"]["shadow"] is None


def test_a_broken_shadow_model_never_fails_the_request(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow.json"
    shadow.write_text("{not an artifact")
    h = Harness(tmp_path, shadow_model_path=shadow)
    with h.client() as c:
        r = c.post("/v1/score", json=body())
    assert r.status_code == 200 and r.json()["decision"] == "approve"
    record = published(h)["decisions"]
    assert record["shadow"]["model_version"] is None
    reasons = {x["code"]: x["detail"] for x in record["shadow"]["reasons"]}
    assert "shadow model" in reasons["model_unavailable"] and "invalid" in reasons["model_unavailable"]
    assert "fail_open" in reasons and "model_score" not in reasons


def body_request() -> Any:
    from scoring.serving.api import ScoreRequest

    return ScoreRequest.model_validate(body())
