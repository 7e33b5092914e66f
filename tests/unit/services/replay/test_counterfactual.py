"""The batch-job counterfactual as tables: when a batch run blocks the card, what got through before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoring.serving.model import ModelArtifact
from scoring.serving.rules import parse_rules
from services.replay.counterfactual import batch_approved, batch_run_at
from services.replay.stolen_card import TimelineRow, summarize
from streaming.card_state import FeatureConfig
from streaming.schema import Swipe

T9 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TOKEN = "ct_" + "ef" * 16
CONFIG = FeatureConfig()
# A rule that denies any swipe of 1000 or more: the "model" of these tables.
BIG = parse_rules(
    """
[[rule]]
id = "big"
action = "deny"
description = "big amount"
when = [{ input = "amount", op = ">=", value = 1000 }]
"""
)


def swipe(i: int, minutes: float, amount: float) -> Swipe:
    return Swipe(
        swipe_id=f"s{i}",
        card_token=TOKEN,
        amount=amount,
        currency="EUR",
        merchant_id="m",
        mcc="5732",
        country="DE",
        event_time=T9 + timedelta(minutes=minutes),
    )


@pytest.mark.parametrize(
    ("t", "run"),
    [
        (T9, T9),
        (T9 + timedelta(minutes=29, seconds=59), T9),
        (T9 + timedelta(minutes=30), T9 + timedelta(minutes=30)),
        (T9 - timedelta(seconds=1), T9 - timedelta(minutes=30)),
    ],
)
def test_batch_runs_are_aligned_on_half_hours(t: datetime, run: datetime) -> None:
    assert batch_run_at(t, timedelta(minutes=30)) == run


# runs      09:00                     09:30                     10:00
# swipes     s0 s1 ... (s3 big at 09:10) s4 09:29   | s5 09:31    s6 10:05
#                  the 09:30 run blocks the card --^ s5, s6 refused
@pytest.mark.parametrize(
    ("swipes", "approved"),
    [
        ([swipe(0, 0, 10), swipe(1, 5, 20)], [True, True]),
        (
            [swipe(0, 0, 10), swipe(3, 10, 1500), swipe(4, 29, 10), swipe(5, 31, 10), swipe(6, 65, 10)],
            [True, True, True, False, False],
        ),
        # flagged exactly at a run: the next run blocks, not this one
        ([swipe(0, 0, 1500), swipe(1, 1, 10), swipe(2, 30, 10)], [True, True, False]),
    ],
)
def test_batch_job_lets_everything_through_until_its_next_run(
    swipes: list[Swipe], approved: list[bool]
) -> None:
    model: ModelArtifact | None = None
    assert batch_approved(swipes, model, BIG, CONFIG) == approved


def row(index: int, fraud: bool, decision: str, latency: float) -> TimelineRow:
    return TimelineRow(index, T9, "m", "DE", 10.0, fraud, decision, 0.5, [], None, latency)


def test_summary_counts_the_story() -> None:
    rows = [
        row(1, True, "approve", 2.0),
        row(0, False, "approve", 3.0),
        row(2, True, "deny", 4.0),
        row(3, True, "deny", 5.0),
        row(0, False, "approve", 6.0),
    ]
    report = summarize(rows, [True, True, False], "v1")
    assert report.summary() == {
        "fraud_swipes": 3,
        "fraud_approved": 1,
        "first_denied_index": 2,
        "legit_swipes": 2,
        "legit_denied": 0,
        "batch_baseline_approved": 2,
        "p50_ms": 4.0,
        "p99_ms": pytest.approx(5.96),
        "model_version": "v1",
    }


def test_nothing_denied_means_no_first_denial() -> None:
    assert summarize([row(1, True, "approve", 1.0)], [True], None).first_denied_index is None
