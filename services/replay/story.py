"""The stolen-card story's one draw: population, victim, theft and other cards' traffic from a seed.

`fraudstream replay stolen-card --seed N` plays it on the running stack and `services.replay.story_eval`
decides it offline; both draw it here, so seed N is the same victim, thief and background in both
(only the theft time differs). Pure: a seeded numpy Generator, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from scoring.serving.model import ModelArtifact
from scoring.serving.rules import RuleSet
from services.generator.population import Population, PopulationConfig, build_population
from services.generator.scenarios import LabeledSwipe, StolenCardParams, stolen_card
from services.generator.traffic import background
from services.replay.counterfactual import batch_approved
from streaming.card_state import FeatureConfig
from streaming.schema import Swipe


@dataclass(frozen=True)
class StoryDraw:
    pop: Population
    victim: int
    theft_at: datetime
    story: list[LabeledSwipe]  # the victim's history, then the theft
    others: np.ndarray  # every card but the victim
    traffic: list[Swipe]  # the other cards' background, from the history's start to the theft's end

    @property
    def fraud(self) -> list[LabeledSwipe]:
        return [ls for ls in self.story if ls.is_fraud]


def draw_story(
    seed: int,
    token_key: bytes,
    cards: int,
    theft_at: datetime,
    params: StolenCardParams | None = None,
) -> StoryDraw:
    """The story of `seed` with the theft at `theft_at`, among `cards` cards."""
    params = params or StolenCardParams()
    rng = np.random.default_rng(seed)
    pop = build_population(rng, token_key, PopulationConfig(cards=cards))
    victim = int(rng.integers(pop.cards))
    story = stolen_card(pop, victim, theft_at, rng, params)
    window_end = theft_at + timedelta(minutes=params.burst_minutes)
    others = np.array([c for c in range(pop.cards) if c != victim])
    start = theft_at - timedelta(days=params.history_days)
    traffic = list(background(pop, start, rng, end=window_end, cards=others, id_prefix=f"rp{seed}-"))
    return StoryDraw(pop, victim, theft_at, story, others, traffic)


def fraud_batch_approved(
    card_swipes: list[Swipe],
    fraud_ids: set[str],
    model: ModelArtifact | None,
    rules: RuleSet | None,
    config: FeatureConfig,
) -> list[bool]:
    """Per fraudulent swipe, in event-time order: would a batch run every 30 minutes approve it?"""
    ordered = sorted(card_swipes, key=lambda s: s.event_time)
    ok = batch_approved(card_swipes, model, rules, config)
    return [a for s, a in zip(ordered, ok, strict=True) if s.swipe_id in fraud_ids]
