"""The decision: rules first, then the model, then the fail-open/closed policy. Pure.

    deny rule fired ------------------------------> deny
    approve rule fired (override) ----------------> approve
    model loaded: score >= threshold -------------> deny, else approve
    no model (missing or broken artifact) --------> approve if fail_open else deny

`review` rules never change the decision; they add a reason for the case queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from scoring.serving.model import ModelArtifact
from scoring.serving.rules import ContextValue, RuleSet

TOP_CONTRIBUTIONS = 3


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # a bounded vocabulary: rule:<id>, feature:<name>, model_score, features_missing, ...
    detail: str
    value: float | str | None = None


@dataclass(frozen=True, slots=True)
class Degraded:
    """What the decision had to do without.

    `features_missing`: no streamed features for the card (new card, or not streamed yet).
    `features_stale`: the card has features, but a swipe we decided more than `stale_after_s` ago
    is still not folded into them; they were set aside.
    `features_catching_up`: the feature follower has not yet read the topic up to its end.
    """

    features_missing: bool = False
    features_stale: bool = False
    features_catching_up: bool = False
    model_error: str | None = None
    rules_error: str | None = None

    def reasons(self) -> list[Reason]:
        out = []
        if self.features_missing:
            out.append(Reason("features_missing", "no card features: decided from request-time features"))
        if self.features_stale:
            out.append(Reason("features_stale", "card features lag our own decisions: set aside"))
        if self.features_catching_up:
            out.append(Reason("features_catching_up", "the feature table is still loading"))
        if self.rules_error:
            out.append(Reason("rules_error", self.rules_error))
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    decision: Literal["approve", "deny"]
    score: float | None
    threshold: float | None
    reasons: tuple[Reason, ...]
    degraded: bool


def decide(
    inputs: Mapping[str, float],
    context: Mapping[str, ContextValue],
    model: ModelArtifact | None,
    rules: RuleSet | None,
    *,
    degraded: Degraded = Degraded(),
    fail_open: bool,
    threshold: float | None = None,
) -> Decision:
    """Decide one swipe. `threshold` overrides the model's operating threshold."""
    fired = rules.fired(context) if rules is not None else []
    reasons = [Reason(f"rule:{r.id}", r.description, r.action) for r in fired]
    reasons += degraded.reasons()
    actions = {r.action for r in fired}

    score = None
    cut = None
    model_deny = False
    if model is not None:
        score, contributions = model.predict(inputs, context)
        cut = model.threshold if threshold is None else threshold
        model_deny = score >= cut
        relation = ">=" if model_deny else "<"
        reasons.append(Reason("model_score", f"score {score:.3f} {relation} threshold {cut:.3f}", score))
        top = sorted([(c, n) for n, c in contributions.items() if c > 0], reverse=True)
        reasons += [
            Reason(f"feature:{n}", f"raises the log-odds by {c:.2f}", inputs.get(n))
            for c, n in top[:TOP_CONTRIBUTIONS]
        ]
    else:
        reasons.append(Reason("model_unavailable", degraded.model_error or "no model loaded"))

    if "deny" in actions:
        verdict: Literal["approve", "deny"] = "deny"
    elif "approve" in actions:
        verdict = "approve"
    elif model is not None:
        verdict = "deny" if model_deny else "approve"
    else:
        verdict = "approve" if fail_open else "deny"
        reasons.append(
            Reason(
                "fail_open" if fail_open else "fail_closed", "no model and no rule decided: policy applied"
            )
        )
    is_degraded = model is None or any(
        (
            degraded.features_missing,
            degraded.features_stale,
            degraded.features_catching_up,
            degraded.rules_error,
        )
    )
    return Decision(verdict, score, cut, tuple(reasons), is_degraded)
