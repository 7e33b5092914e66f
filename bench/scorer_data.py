"""The scorer bench's inputs: a realistic online feature table and request bodies of known cards.

Folding generated traffic for every one of 100k cards costs about a minute of pure Python here
(~50 s measured on this 2-core machine for 2 days of traffic), so the table is built the cheaper
faithful way: `template_cards` cards get `history_days` of generated traffic folded by the real
`streaming.card_state.fold`, and card j gets template (j % template_cards)'s record under its own
token. Record sizes, shapes and values follow the real fold; what the scorer does per request
(dict lookup in a table of `cards` entries, decompress, validate, score) is the same as with
100k distinct histories. Each request body is a template card's real next swipe after the history,
sent under card j's identity: as `card_token` for even j, as `pan` (tokenized on arrival) for odd j.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from services.generator.population import Population, PopulationConfig, build_population
from services.generator.traffic import background
from streaming.card_state import CardState, FeatureConfig, features, fold
from streaming.schema import Swipe, to_kafka


@dataclass(frozen=True)
class BenchInputs:
    features_path: Path  # one Kafka value (CardFeatures JSON) per line
    bodies_path: Path  # one POST /v1/score body per line
    cards: int
    bodies: int
    mean_record_bytes: float
    mean_body_bytes: float


@dataclass(frozen=True)
class Template:
    """A folded card: its token, its merged CardFeatures (what the scorer's table holds) and its
    tiles as the job publishes them on card-tiles: (key suffix `|<grain>|<start>`, value)."""

    token: str
    value: bytes
    tiles: tuple[tuple[str, bytes], ...] = ()


def rekey(value: bytes, old_token: str, new_token: str) -> bytes:
    """The record of `old_token` as card `new_token`'s; the token must occur exactly once (its key field)."""
    old = old_token.encode()
    found = value.count(old)
    if found != 1:
        raise ValueError(f"token {old_token!r} occurs {found} times in the record, expected once")
    return value.replace(old, new_token.encode())


def folded_cards(
    pop: Population,
    rng: np.random.Generator,
    config: FeatureConfig,
    *,
    end: datetime,
    template_cards: int,
    history_days: float,
    id_prefix: str = "hist-",
) -> list[tuple[str, CardState]]:
    """(token, folded state) of cards 0..template_cards-1 that swiped in the `history_days` before
    `end`, in card order."""
    picked = np.arange(min(template_cards, pop.cards))
    by_card: dict[str, list[Swipe]] = {}
    start = end - timedelta(days=history_days)
    for s in background(pop, start, rng, end=end, cards=picked, id_prefix=id_prefix):
        by_card.setdefault(s.card_token, []).append(s)
    out = [(pop.token(k), by_card[pop.token(k)]) for k in picked.tolist() if pop.token(k) in by_card]
    if not out:
        raise ValueError(f"none of {len(picked)} template cards swiped in {history_days} days")
    return [(token, fold(CardState(), swipes, config)) for token, swipes in out]


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
    out = []
    for token, state in folded_cards(
        pop, rng, config, end=end, template_cards=template_cards, history_days=history_days
    ):
        records = [t.record(token) for t in state.tiles.values()]
        tiles = tuple((r.key[len(token) :], to_kafka(r)) for r in records)
        out.append(Template(token, to_kafka(features(token, state, config, computed_at=end)), tiles))
    return out


def build_inputs(
    out_dir: Path,
    token_key: bytes,
    config: FeatureConfig,
    *,
    cards: int = 100_000,
    template_cards: int = 4_000,
    history_days: float = 7.0,
    seed: int = 8,
    end: datetime | None = None,
) -> BenchInputs:
    """Write the feature records and request bodies under `out_dir`."""
    end = end or (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    rng = np.random.default_rng(seed)
    pop = build_population(rng, token_key, PopulationConfig(cards=cards))
    t = min(template_cards, cards)
    records = {
        m.token: m.value
        for m in templates(pop, rng, config, end=end, template_cards=t, history_days=history_days)
    }
    following: dict[str, Swipe] = {}
    picked = np.arange(t)
    for s in background(pop, end, rng, end=end + timedelta(days=1), cards=picked, id_prefix="next-"):
        following.setdefault(s.card_token, s)

    out_dir.mkdir(parents=True, exist_ok=True)
    features_path, bodies_path = out_dir / "features.jsonl", out_dir / "bodies.jsonl"
    n_records = n_bodies = record_bytes = body_bytes = 0
    with features_path.open("wb") as feats, bodies_path.open("w") as bodies:
        for j in range(cards):
            template_token, token = pop.token(j % t), pop.token(j)
            if template_token in records:
                line = rekey(records[template_token], template_token, token)
                feats.write(line + b"\n")
                n_records += 1
                record_bytes += len(line)
            nxt = following.get(template_token)
            if nxt is None:
                continue
            body = nxt.model_dump(mode="json", exclude={"card_token", "decision"})
            body["swipe_id"] = f"bench-{j:07d}"
            if j % 2:
                body["pan"] = pop.pan(j)
            else:
                body["card_token"] = token
            text = json.dumps(body, separators=(",", ":"))
            bodies.write(text + "\n")
            n_bodies += 1
            body_bytes += len(text)
    return BenchInputs(
        features_path,
        bodies_path,
        n_records,
        n_bodies,
        record_bytes / max(n_records, 1),
        body_bytes / max(n_bodies, 1),
    )
