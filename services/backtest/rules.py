"""`fraudstream rules test`: what a candidate rules file would have done to past swipes. Pure.

Two steps, both plain functions:

- `replayed_swipes` replays the stored swipes through the card fold in event-time order
  (`scoring.training.fit.as_scored`, the step of training and the backtest), so each swipe's rule
  context is the card as the scorer saw it just before it; the candidate's rules are evaluated on
  that context. The decisions table records the model inputs but not the whole rule context (no
  travel speed, no raw velocity amounts), and swipes authorized elsewhere have no decision at all,
  so the features are recomputed, not read back.
- `count_rule_test` counts, per rule and in total: swipes matched, of those fraud by label and
  approved by the current decision; and the denials and fraud caught now against with the candidate.

The candidate replaces the current rules file. Its decision on a swipe is `scoring.serving.decision`'s
precedence over the model verdict the decision recorded (score against threshold):

    candidate deny rule fired ------------------> deny
    candidate approve rule fired ---------------> approve
    decision recorded a score and a threshold --> deny if score >= threshold, else approve
    otherwise ----------------------------------> the current decision

The current decision is the newest recorded one for the swipe, else the swipe's own `decision`,
else approve: a swipe authorized elsewhere went through.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scoring.serving.model import model_inputs
from scoring.serving.rules import RuleSet, rule_context
from scoring.training.fit import as_scored
from streaming.card_state import CardState, FeatureConfig, fold
from streaming.schema import Label, Swipe

Verdict = Literal["approve", "deny"]
ALL_RULES = "all rules"


@dataclass(frozen=True)
class RecordedDecision:
    """What the decisions table says about one swipe (the newest record when it was retried)."""

    swipe_id: str
    decision: Verdict
    score: float | None
    threshold: float | None
    decided_at: datetime

    @property
    def model_verdict(self) -> Verdict | None:
        """The model's own answer, before any rule; None when no model scored the swipe."""
        if self.score is None or self.threshold is None:
            return None
        return "deny" if self.score >= self.threshold else "approve"


@dataclass(frozen=True)
class ReplayedSwipe:
    """One swipe of the tested period: the candidate rules it fires, its label, its two verdicts."""

    swipe_id: str
    fired: frozenset[str]
    is_fraud: bool
    current: Verdict
    model: Verdict  # the verdict the candidate's rules override: recorded model verdict, else current


@dataclass(frozen=True)
class RuleCounts:
    rule_id: str
    action: str
    matched: int
    fraud: int
    approved: int  # of the matched, approved by the current decision


@dataclass(frozen=True)
class RuleTestResult:
    rules: tuple[RuleCounts, ...]
    total: RuleCounts  # swipes matched by any rule of the candidate
    swipes: int
    fraud: int
    denied_now: int
    denied_candidate: int
    fraud_caught_now: int
    fraud_caught_candidate: int

    @property
    def denials_change(self) -> int:
        return self.denied_candidate - self.denied_now

    @property
    def fraud_caught_change(self) -> int:
        return self.fraud_caught_candidate - self.fraud_caught_now


def candidate_verdict(actions: Iterable[str], model: Verdict) -> Verdict:
    """`decision.decide`'s precedence: any deny rule, then any approve rule, then the model."""
    fired = set(actions)
    if "deny" in fired:
        return "deny"
    if "approve" in fired:
        return "approve"
    return model


def newest_decisions(decisions: Iterable[RecordedDecision]) -> dict[str, RecordedDecision]:
    """One decision per swipe: a retried request is decided again; the newest answer is the one given."""
    newest: dict[str, RecordedDecision] = {}
    for d in decisions:
        seen = newest.get(d.swipe_id)
        if seen is None or d.decided_at > seen.decided_at:
            newest[d.swipe_id] = d
    return newest


def count_rule_test(tested: Sequence[ReplayedSwipe], rules: RuleSet) -> RuleTestResult:
    """The per-rule and total counts of a rule test (see the module docstring)."""
    action_of = {r.id: r.action for r in rules.rules}

    def counts(rule_id: str, action: str, matched: list[ReplayedSwipe]) -> RuleCounts:
        fraud = sum(t.is_fraud for t in matched)
        approved = sum(t.current == "approve" for t in matched)
        return RuleCounts(rule_id, action, len(matched), fraud, approved)

    per_rule = tuple(counts(r.id, r.action, [t for t in tested if r.id in t.fired]) for r in rules.rules)
    candidate = [candidate_verdict((action_of[i] for i in t.fired), t.model) for t in tested]
    return RuleTestResult(
        rules=per_rule,
        total=counts(ALL_RULES, "", [t for t in tested if t.fired]),
        swipes=len(tested),
        fraud=sum(t.is_fraud for t in tested),
        denied_now=sum(t.current == "deny" for t in tested),
        denied_candidate=sum(v == "deny" for v in candidate),
        fraud_caught_now=sum(t.is_fraud and t.current == "deny" for t in tested),
        fraud_caught_candidate=sum(
            t.is_fraud and v == "deny" for t, v in zip(tested, candidate, strict=True)
        ),
    )


def replayed_swipes(
    swipes: Iterable[Swipe],
    decisions: Iterable[RecordedDecision],
    labels: Iterable[Label],
    rules: RuleSet,
    config: FeatureConfig,
    since: datetime,
    until: datetime,
) -> list[ReplayedSwipe]:
    """The swipes of `[since, until)` with the candidate rules each fires, point in time.

    Every swipe given (the warm-up before `since` too) is folded into its card in event-time
    order, so the features of a tested swipe are those of the card's earlier swipes only. A swipe
    is fraud when a fraud label for it is among `labels` (the caller reads those reported by
    `until`); labels never enter the features.
    """
    fraud = {label.swipe_id for label in labels if label.is_fraud}
    recorded = newest_decisions(decisions)
    states: dict[str, CardState] = {}
    out: list[ReplayedSwipe] = []
    for swipe in sorted(swipes, key=lambda s: s.event_time):
        state = states.get(swipe.card_token)
        if since <= swipe.event_time < until:
            card, rf = as_scored(state, swipe, config)
            ctx = rule_context(model_inputs(card, rf), rf, swipe, swipe.card_token)
            decision = recorded.get(swipe.swipe_id)
            current: Verdict = decision.decision if decision else (swipe.decision or "approve")
            model = (decision.model_verdict if decision else None) or current
            fired = frozenset(r.id for r in rules.fired(ctx))
            out.append(ReplayedSwipe(swipe.swipe_id, fired, swipe.swipe_id in fraud, current, model))
        states[swipe.card_token] = fold(state or CardState(), [swipe], config)
    return out
