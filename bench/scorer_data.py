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

from services.population import PopulationConfig, build_population
from services.traffic import background
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
    templates = np.arange(min(template_cards, cards))
    by_card: dict[str, list[Swipe]] = {}
    start = end - timedelta(days=history_days)
    for s in background(pop, start, rng, end=end, cards=templates, id_prefix="hist-"):
        by_card.setdefault(s.card_token, []).append(s)
    records: dict[int, bytes] = {}
    for k in templates.tolist():
        history = by_card.get(pop.token(k))
        if history:
            state = fold(CardState(), history, config)
            records[k] = to_kafka(features(pop.token(k), state, config, computed_at=end))
    following: dict[str, Swipe] = {}
    for s in background(pop, end, rng, end=end + timedelta(days=1), cards=templates, id_prefix="next-"):
        following.setdefault(s.card_token, s)

    out_dir.mkdir(parents=True, exist_ok=True)
    features_path, bodies_path = out_dir / "features.jsonl", out_dir / "bodies.jsonl"
    n_records = n_bodies = record_bytes = body_bytes = 0
    t = len(templates)
    with features_path.open("wb") as feats, bodies_path.open("w") as bodies:
        for j in range(cards):
            k = j % t
            template_token, token = pop.token(k), pop.token(j)
            if k in records:
                # The token occurs once in the record (its key field), so this is an exact re-keying.
                line = records[k].replace(template_token.encode(), token.encode())
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
