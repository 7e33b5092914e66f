"""The decision contract: the scorer's answer and the record it publishes on `decisions`.

The scorer returns `ScoreResponse` and publishes `DecisionRecord`; the feature job's history query
appends the records to Delta `decisions` with the Spark types derived from this model
(`streaming.audit`). One definition, so the two cannot drift. No I/O here.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from streaming.schema import Decision


class ReasonOut(BaseModel):
    code: str = Field(examples=["rule:impossible-travel"])
    detail: str
    value: float | str | None = None


class ScoreResponse(BaseModel):
    """The decision on one swipe and why."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "swipe_id": "sw-000001",
                    "card_token": "ct_" + "0" * 32,
                    "decision": "deny",
                    "score": 0.93,
                    "threshold": 0.41,
                    "reasons": [
                        {
                            "code": "rule:impossible-travel",
                            "detail": "The card moved faster...",
                            "value": "deny",
                        },
                        {"code": "model_score", "detail": "score 0.930 >= threshold 0.410", "value": 0.93},
                        {
                            "code": "feature:velocity_600_count",
                            "detail": "raises the log-odds by 2.10",
                            "value": 7,
                        },
                    ],
                    "model_version": "2026-11-27T09-00",
                    "features_as_of": "2026-11-27T08:59:58Z",
                    "feature_age_ms": 1250,
                    "degraded": False,
                }
            ]
        }
    )

    swipe_id: str
    card_token: str
    decision: Decision
    score: float | None = Field(description="Fraud probability in [0, 1]; null when no model is loaded.")
    threshold: float | None = Field(default=None, description="Deny at or above this score.")
    reasons: list[ReasonOut]
    model_version: str | None
    features_as_of: datetime | None = Field(
        description="Event time of the newest swipe in the card features."
    )
    feature_age_ms: int | None = Field(description="Scorer clock minus the features' computed_at.")
    degraded: bool = Field(description="Decided without card features, a model or rules (see reasons).")
    inputs: dict[str, float] | None = Field(default=None, description="Model inputs, with ?explain=true.")


class ShadowOut(BaseModel):
    """The challenger's decision on the same swipe (FRAUDSTREAM_SHADOW_MODEL / _RULES); never answered."""

    model_version: str | None = Field(
        description="The challenger model, or the champion's when only rules are shadowed."
    )
    rules: str | None = Field(default=None, description="The challenger rules file, when one is shadowed.")
    decision: Decision
    score: float | None
    threshold: float | None = None
    reasons: list[ReasonOut]


class DecisionRecord(ScoreResponse):
    """What goes to the `decisions` topic: the response, the model inputs and when it was decided."""

    event_time: datetime
    decided_at: datetime
    shadow: ShadowOut | None = Field(default=None, description="The challenger's decision, when one runs.")
