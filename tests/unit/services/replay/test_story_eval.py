"""The offline stolen-card story: its counts, checked with models whose answers are known."""

from __future__ import annotations

import pytest

from services.replay.story_eval import StorySummary, run_stories, run_story
from tests.unit.scoring.builders import CFG, artifact

KEY = b"test-key"


@pytest.mark.parametrize(
    ("intercept", "expected"),
    [
        # approves everything: the whole burst goes through, in real time and in batch
        (-30.0, {"fraud_approved": 12, "first_denied_index": None, "legit_denied": 0, "batch_approved": 12}),
        # denies everything: the first swipe is caught; the batch job blocked the card on its history
        (30.0, {"fraud_approved": 0, "first_denied_index": 1, "batch_approved": 0}),
    ],
)
def test_story_counts(intercept: float, expected: dict[str, object]) -> None:
    model = artifact(weights={"velocity_600_count": 0.0}, intercept=intercept)
    outcome = run_story(3, model, None, CFG, KEY, cards=40)
    assert outcome.fraud_swipes == 12
    assert outcome.legit_swipes > 0 and outcome.day_legit_swipes > outcome.legit_swipes
    assert {k: getattr(outcome, k) for k in expected} == expected
    if intercept > 0:
        assert outcome.legit_denied == outcome.legit_swipes
        assert outcome.day_legit_denied == outcome.day_legit_swipes


def test_the_same_seed_tells_the_same_story() -> None:
    model = artifact()
    assert run_story(5, model, None, CFG, KEY, cards=40) == run_story(5, model, None, CFG, KEY, cards=40)


def test_summary_aggregates_seeds() -> None:
    summary = run_stories([1, 2], artifact(intercept=30.0), None, CFG, KEY, cards=30)
    assert isinstance(summary, StorySummary)
    assert summary.seeds == 2 and summary.first_caught == 2
    assert summary.mean_fraud_approved == 0.0 and summary.day_false_positive_rate == 1.0
