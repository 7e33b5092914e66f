"""The catch-up bench's topic contents: one realistic card-features record per card, keyed by token.

The same faithful shortcut as bench/scorer_data.py: `template_cards` cards get `history_days` of
generated traffic folded by the real `streaming.card_state.fold`, and card j publishes template
(j % templates)'s record under its own token. Four weeks of history fill a card's profile
(merchants, countries, MCCs, places) about as far as a card that has been swiping for months;
the windows only look back a day. Values are `streaming.schema.to_kafka` bytes, as the job
publishes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from services.population import Population
from services.tokenize import tokenize_pan
from services.traffic import background
from streaming.card_state import CardState, FeatureConfig, features, fold
from streaming.schema import Swipe, to_kafka


@dataclass(frozen=True)
class Template:
    """A folded card: its token, and its CardFeatures as the Kafka value the job publishes."""

    token: str
    value: bytes


def rekey(value: bytes, old_token: str, new_token: str) -> bytes:
    """The record of `old_token` as card `new_token`'s; the token must occur exactly once (its key field)."""
    old = old_token.encode()
    found = value.count(old)
    if found != 1:
        raise ValueError(f"token {old_token!r} occurs {found} times in the record, expected once")
    return value.replace(old, new_token.encode())


def templates(
    pop: Population,
    rng: np.random.Generator,
    config: FeatureConfig,
    *,
    end: datetime,
    template_cards: int,
    history_days: float,
) -> list[Template]:
    """Fold `history_days` of traffic for cards 0..template_cards-1; the cards that swiped, in card order."""
    picked = np.arange(min(template_cards, pop.cards))
    by_card: dict[str, list[Swipe]] = {}
    start = end - timedelta(days=history_days)
    for s in background(pop, start, rng, end=end, cards=picked, id_prefix="hist-"):
        by_card.setdefault(s.card_token, []).append(s)
    out = []
    for k in picked.tolist():
        token = pop.token(k)
        history = by_card.get(token)
        if history:
            state = fold(CardState(), history, config)
            out.append(Template(token, to_kafka(features(token, state, config, computed_at=end))))
    if not out:
        raise ValueError(f"none of {len(picked)} template cards swiped in {history_days} days")
    return out


def card_records(pop: Population, models: list[Template], cards: int) -> Iterator[tuple[str, bytes]]:
    """(card token, value) for cards 0..cards-1: card j gets template j % len(models) under its own token.

    Tokens are computed here and not cached on `pop`, so a million of them are not kept in memory.
    """
    if cards > pop.cards:
        raise ValueError(f"the population has {pop.cards:,} cards, {cards:,} were asked for")
    for j in range(cards):
        model = models[j % len(models)]
        token = tokenize_pan(pop.pan(j), pop.token_key)
        yield token, rekey(model.value, model.token, token)
