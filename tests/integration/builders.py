"""Builders the integration tests share: records as the scorer publishes them."""

from __future__ import annotations

from datetime import UTC, datetime

from streaming.decision_record import DecisionRecord, ReasonOut

TOKEN = "ct_" + "0a" * 16


def record(i: int, decision: str = "deny") -> DecisionRecord:
    return DecisionRecord(
        swipe_id=f"sw-{i}",
        card_token=TOKEN,
        decision=decision,  # type: ignore[arg-type]
        score=0.91,
        threshold=0.5,
        reasons=[
            ReasonOut(code="rule:impossible-travel", detail="fast", value="deny"),
            ReasonOut(code="model_score", detail="s", value=0.91),
        ],
        model_version="v7",
        features_as_of=datetime(2026, 11, 26, 8, 59, tzinfo=UTC),
        feature_age_ms=1200,
        degraded=False,
        inputs={"amount_log": 3.2},
        event_time=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        decided_at=datetime(2026, 11, 26, 9, 0, 0, 4000, tzinfo=UTC),
    )
