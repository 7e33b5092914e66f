"""The stolen-card story scored offline, seed by seed: does the real-time decision catch the first swipe?

The same story `fraudstream replay stolen-card --seed N` plays on the running stack (same random
draws, so seed N is the same victim, thief and background), decided here with complete features,
as a stream with no lag plus the scorer's lag cover would give them. Every decided swipe is folded
back with its decision, as the scorer publishes it, so denials count in the card's velocity:

    history (14 days)                 theft_at          + 30 min
    victim     h  h   h    h   h  h  | F  F F  F F F F F |
    others     o o  o o o  o  oo o o | o  o   o  o   o   |
                          |<- 1 day ->|<- decided, counted as "legit in the half hour" ->|
                          decided, counted as "legit over the day before" (false positive rate)

No I/O: the caller passes the model and the rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scoring.serving.decision import Decision, decide
from scoring.serving.model import ModelArtifact, model_inputs
from scoring.serving.rules import RuleSet, rule_context
from scoring.training.fit import as_scored
from services.generator.scenarios import StolenCardParams, story_theft_at
from services.replay.story import draw_story, fraud_batch_approved
from streaming.card_state import CardState, FeatureConfig, fold
from streaming.schema import Swipe

STORY_DAY = datetime(2026, 11, 26, tzinfo=UTC).date()


@dataclass(frozen=True)
class StoryOutcome:
    """One seed of the story."""

    seed: int
    fraud_swipes: int
    fraud_approved: int
    first_denied_index: int | None  # 1-based among the fraudulent swipes
    legit_swipes: int  # other cards, during the theft's half hour
    legit_denied: int
    day_legit_swipes: int  # other cards, the day before the theft
    day_legit_denied: int
    batch_approved: int  # fraudulent swipes a batch job every 30 minutes lets through


@dataclass(frozen=True)
class StorySummary:
    outcomes: tuple[StoryOutcome, ...]

    @property
    def seeds(self) -> int:
        return len(self.outcomes)

    @property
    def first_caught(self) -> int:
        return sum(o.first_denied_index == 1 for o in self.outcomes)

    @property
    def mean_fraud_approved(self) -> float:
        return sum(o.fraud_approved for o in self.outcomes) / max(self.seeds, 1)

    @property
    def legit_denied(self) -> int:
        return sum(o.legit_denied for o in self.outcomes)

    @property
    def legit_swipes(self) -> int:
        return sum(o.legit_swipes for o in self.outcomes)

    @property
    def day_false_positive_rate(self) -> float:
        n = sum(o.day_legit_swipes for o in self.outcomes)
        return sum(o.day_legit_denied for o in self.outcomes) / max(n, 1)

    @property
    def min_batch_approved(self) -> int:
        return min((o.batch_approved for o in self.outcomes), default=0)

    @property
    def mean_batch_approved(self) -> float:
        return sum(o.batch_approved for o in self.outcomes) / max(self.seeds, 1)


def decide_next(
    state: CardState, swipe: Swipe, model: ModelArtifact | None, rules: RuleSet | None, config: FeatureConfig
) -> Decision:
    """Decide `swipe` against its card's state (everything before it), then fold it with the decision."""
    card, rf = as_scored(state, swipe, config)
    inputs = model_inputs(card, rf)
    decision = decide(inputs, rule_context(inputs, rf, swipe, swipe.card_token), model, rules, fail_open=True)
    fold(state, [swipe.model_copy(update={"decision": decision.decision})], config)
    return decision


def run_story(
    seed: int,
    model: ModelArtifact | None,
    rules: RuleSet | None,
    config: FeatureConfig,
    token_key: bytes,
    *,
    cards: int = 400,
    params: StolenCardParams | None = None,
    day_before_s: float = 86_400.0,
) -> StoryOutcome:
    """One seed of the story, drawn as `services.replay.stolen_card.run_stolen_card` draws it (`draw_story`).

    The theft is at 09:00 UTC of a fixed day; the replay puts it at the half hour after its stream's
    event time: the same draw, on a half-hour boundary either way, a different time of day.
    """
    drawn = draw_story(seed, token_key, cards, story_theft_at(STORY_DAY), params)
    story, theft_at, traffic = drawn.story, drawn.theft_at, drawn.traffic

    state = CardState()
    fraud_denied: list[bool] = []
    for ls in story:
        if ls.is_fraud:
            fraud_denied.append(decide_next(state, ls.swipe, model, rules, config).decision == "deny")
        else:
            fold(state, [ls.swipe], config)

    scored_from = theft_at - timedelta(seconds=day_before_s)
    by_card: dict[str, list[Swipe]] = defaultdict(list)
    for s in traffic:
        by_card[s.card_token].append(s)
    legit = legit_denied = day = day_denied = 0
    for swipes in by_card.values():
        card_state = CardState()
        older = [s for s in swipes if s.event_time < scored_from]
        fold(card_state, older, config)
        for s in swipes[len(older) :]:
            denied = decide_next(card_state, s, model, rules, config).decision == "deny"
            if s.event_time >= theft_at:
                legit, legit_denied = legit + 1, legit_denied + denied
            else:
                day, day_denied = day + 1, day_denied + denied

    fraud_ids = {ls.swipe.swipe_id for ls in drawn.fraud}
    batch_ok = fraud_batch_approved([ls.swipe for ls in story], fraud_ids, model, rules, config)
    return StoryOutcome(
        seed=seed,
        fraud_swipes=len(fraud_denied),
        fraud_approved=fraud_denied.count(False),
        first_denied_index=next((i + 1 for i, d in enumerate(fraud_denied) if d), None),
        legit_swipes=legit,
        legit_denied=legit_denied,
        day_legit_swipes=day,
        day_legit_denied=day_denied,
        batch_approved=sum(batch_ok),
    )


def run_stories(
    seeds: Sequence[int],
    model: ModelArtifact | None,
    rules: RuleSet | None,
    config: FeatureConfig,
    token_key: bytes,
    *,
    cards: int = 400,
    on_outcome: Callable[[StoryOutcome], None] = lambda _: None,
) -> StorySummary:
    outcomes = []
    for seed in seeds:
        outcome = run_story(seed, model, rules, config, token_key, cards=cards)
        on_outcome(outcome)
        outcomes.append(outcome)
    return StorySummary(tuple(outcomes))
