"""The merge bench's records: each card's history on card-tiles, then a live stream's tile batches.

History: `template_cards` cards get `history_days` of generated traffic folded by the real
`streaming.card_state.fold` (as `bench.scorer_data.templates`), and card j starts from template
(j % templates)'s tiles under its own token. Live: generated swipes of those cards, stamped `rate`
a second from the end of the history (as the stream bench's feed stamps them with the wall clock),
folded into each card's tiles batch by batch (`batch_s` seconds each, as the job's trigger); every
tile a batch changed is published once, as `Tile.record` + `streaming.schema.to_kafka` (the job's
bytes), in an order shuffled across cards (a card's tiles have different keys, so they land on
different partitions). No I/O here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from bench.scorer_data import rekey
from services.generator.population import Population
from services.generator.traffic import background
from streaming.card_state import CardState
from streaming.schema import CardTile, from_kafka, to_kafka
from streaming.tiles import GRAINS_S, Tile, TileKey, add_swipe, epoch_us, tile_start

Record = tuple[bytes, bytes]  # (Kafka key, value)


@dataclass(frozen=True)
class MergeStream:
    history: list[Record]  # every card's held tiles, as a catch-up reads them
    batches: list[list[Record]]  # the live stream, one list per job batch
    cards: int


def _record(token: str, tile: Tile) -> Record:
    return f"{token}|{tile.grain_s}|{tile.start_s}".encode(), to_kafka(tile.record(token))


def live_stream(
    pop: Population,
    rng: np.random.Generator,
    models: list[tuple[str, CardState]],
    *,
    end: datetime,
    rate: float,
    batch_s: float,
    batches: int,
) -> MergeStream:
    """The cards' history records, then `batches` batches of `rate * batch_s` swipes each."""
    tokens = [pop.token(j) for j in range(pop.cards)]
    held: dict[str, CardState] = {}
    history: list[Record] = []
    for j, token in enumerate(tokens):
        model_token, model = models[j % len(models)]
        state = held[token] = CardState(tiles={k: copy.deepcopy(t) for k, t in model.tiles.items()})
        for tile in state.tiles.values():
            key, value = _record(model_token, tile)
            history.append(
                (key.replace(model_token.encode(), token.encode()), rekey(value, model_token, token))
            )
    per_batch = int(rate * batch_s)
    pool = background(pop, end, rng, count=per_batch * batches, id_prefix="live-")
    out: list[list[Record]] = []
    for b in range(batches):
        changed: dict[str, set[TileKey]] = {}
        for i in range(per_batch):
            n = b * per_batch + i
            swipe = next(pool).model_copy(
                update={"event_time": end + timedelta(seconds=n / rate), "swipe_id": f"live-{n}"}
            )
            add_swipe(held[swipe.card_token].tiles, swipe)
            t_us = epoch_us(swipe.event_time)
            changed.setdefault(swipe.card_token, set()).update((g, tile_start(t_us, g)) for g in GRAINS_S)
        records = [_record(token, held[token].tiles[k]) for token, keys in changed.items() for k in keys]
        order = rng.permutation(len(records))
        out.append([records[i] for i in order])
    return MergeStream(history, out, pop.cards)


def check_records(records: list[Record]) -> None:
    """Every record parses as a CardTile (the bench's own sanity check, outside any timing)."""
    for _, value in records[:50]:
        from_kafka(CardTile, value)
