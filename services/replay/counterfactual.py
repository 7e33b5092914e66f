"""What a batch fraud job running every N minutes would have done with the same swipes. Pure.

The batch job scores every swipe since its previous run, with complete features (each swipe
against the card's features just before it), and blocks a card when any of those swipes would be
denied. Between runs, nothing stops a swipe on a card that is not yet blocked:

    runs     08:30          09:00          09:30          10:00
    swipes          h   h    F F F F F F F F F F F F
                             ^ theft 09:00:00     ^ the 09:30 run sees the burst and blocks the card
                             all approved until 09:30
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from scoring.serving.decision import decide
from scoring.serving.model import ModelArtifact, model_inputs
from scoring.serving.request_features import request_features
from scoring.serving.rules import RuleSet, rule_context
from streaming.card_state import CardState, FeatureConfig, features, fold
from streaming.schema import Swipe


def would_deny(
    history: Sequence[Swipe], model: ModelArtifact | None, rules: RuleSet | None, config: FeatureConfig
) -> list[bool]:
    """For each swipe of one card, in time order: would the decision deny it with complete features?"""
    state = CardState()
    out = []
    for swipe in sorted(history, key=lambda s: s.event_time):
        card = features(swipe.card_token, state, config, swipe.event_time) if state.tiles else None
        rf = request_features(swipe, card, (), config)
        inputs = model_inputs(card, rf)
        decision = decide(
            inputs, rule_context(inputs, rf, swipe, swipe.card_token), model, rules, fail_open=True
        )
        out.append(decision.decision == "deny")
        fold(state, [swipe], config)
    return out


def batch_run_at(t: datetime, every: timedelta) -> datetime:
    """The latest batch run at or before `t`, runs being aligned on multiples of `every` since epoch."""
    step = every.total_seconds()
    return datetime.fromtimestamp((t.timestamp() // step) * step, t.tzinfo)


def batch_approved(
    card_swipes: Sequence[Swipe],
    model: ModelArtifact | None,
    rules: RuleSet | None,
    config: FeatureConfig,
    every: timedelta = timedelta(minutes=30),
) -> list[bool]:
    """For each swipe of one card, in time order: would a batch job every `every` have let it through?

    A swipe is approved unless a batch run at or before it has already blocked the card, i.e. some
    earlier swipe before that run would have been denied.
    """
    ordered = sorted(card_swipes, key=lambda s: s.event_time)
    denied = would_deny(ordered, model, rules, config)
    first_flag = next((s.event_time for s, d in zip(ordered, denied, strict=True) if d), None)
    if first_flag is None:
        return [True] * len(ordered)
    # The first run strictly after the first flagged swipe blocks the card.
    blocked_from = batch_run_at(first_flag, every) + every
    return [s.event_time < blocked_from for s in ordered]
