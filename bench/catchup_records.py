"""The catch-up bench's topic contents: each card's realistic tiles on card-tiles, keyed as the job keys them.

The same faithful shortcut as the scorer bench (`bench.scorer_data.templates`): `template_cards`
cards get `history_days` of generated traffic folded by the real `streaming.card_state.fold`, and
card j publishes template (j % templates)'s tiles (the ones a feature still reads: a day tile per
active day of the profile, minute and hour tiles of the last day) under its own token. Values are
`streaming.schema.to_kafka` bytes, as the job publishes them.
"""

from __future__ import annotations

from collections.abc import Iterator

from bench.scorer_data import Template, rekey
from foundation.card_tokens import tokenize_pan
from services.generator.population import Population


def card_records(
    pop: Population, models: list[Template], cards: int
) -> Iterator[tuple[str, list[tuple[bytes, bytes]]]]:
    """(card token, its tiles' (key, value)) for cards 0..cards-1: card j gets template j % len(models)'s
    tiles under its own token.

    Tokens are computed here and not cached on `pop`, so a million of them are not kept in memory.
    """
    if cards > pop.cards:
        raise ValueError(f"the population has {pop.cards:,} cards, {cards:,} were asked for")
    for j in range(cards):
        model = models[j % len(models)]
        token = tokenize_pan(pop.pan(j), pop.token_key)
        yield (
            token,
            [((token + suffix).encode(), rekey(value, model.token, token)) for suffix, value in model.tiles],
        )
