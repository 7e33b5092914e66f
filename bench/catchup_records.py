"""The catch-up bench's topic contents: one realistic card-tiles record per card, keyed by token.

The same faithful shortcut as the scorer bench (`bench.scorer_data.templates`): `template_cards`
cards get `history_days` of generated traffic folded by the real `streaming.card_state.fold`, and
card j publishes template (j % templates)'s record under its own token. Four weeks of history
fill a card's profile (merchants, countries, MCCs, places) about as far as a card that has been
swiping for months; the windows only look back a day. Values are `streaming.schema.to_kafka` bytes, as the job
publishes them.
"""

from __future__ import annotations

from collections.abc import Iterator

from bench.scorer_data import Template, rekey
from services.population import Population
from services.tokenize import tokenize_pan


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
