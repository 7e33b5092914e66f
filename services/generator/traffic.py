"""Normal background traffic: per-card Poisson processes shaped by each card's daily rhythm.

Time is cut into hour-long slices. Within a slice each card's intensity is constant (its swipes
per day times its rhythm's share for that local hour), so a card's count in the slice is Poisson
and its swipe times are uniform: an exact piecewise-constant Poisson process, drawn for all cards
at once with numpy. Merging the cards is then one sort per slice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from services.generator.population import SETTLEMENT_CURRENCY, Population
from streaming.schema import Swipe, to_kafka

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SLICE_S = 3600
MATERIALIZE = 10_000  # swipes turned into objects at a time


@dataclass(frozen=True)
class TrafficConfig:
    usual_shop_share: float = 0.9  # else a shop in the home city the card never used
    usual_online_share: float = 0.8  # else any online merchant
    favourite_skew: float = 2.5  # >1 favours the first usual merchants: pick index k * u**skew
    min_amount: float = 0.5
    max_amount: float = 25_000.0


@dataclass
class SwipeBatch:
    """Parallel arrays of swipes in time order; `Swipe` objects are made only when consumed."""

    card: np.ndarray
    t: np.ndarray  # epoch seconds
    merchant: np.ndarray
    amount: np.ndarray
    ecom: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def draw_slice(
    pop: Population,
    t0: float,
    t1: float,
    rng: np.random.Generator,
    cards: np.ndarray | None = None,
    config: TrafficConfig = TrafficConfig(),
) -> SwipeBatch:
    """All swipes of `cards` (default: every card) with event time in [t0, t1); t0, t1 in one hour."""
    idx = np.arange(pop.cards) if cards is None else np.asarray(cards, dtype=np.int64)
    local_hour = (int(t0 // SLICE_S) + pop.utc_offset[idx]) % 24
    share = pop.rhythm_table[pop.rhythm[idx], local_hour] * 24.0  # 1.0 = an average hour
    lam = pop.swipes_per_day[idx] * share * (t1 - t0) / 86_400.0
    counts = rng.poisson(lam)
    card = np.repeat(idx, counts)
    m = len(card)
    t = t0 + rng.random(m) * (t1 - t0)
    order = np.argsort(t, kind="stable")
    card, t = card[order], t[order]
    ecom = rng.random(m) < pop.ecom_share[card]

    u = rng.random((3, m))
    pos_start, pos_k = pop.usual_pos_start[card], np.diff(pop.usual_pos_start)[card]
    usual_shop = pop.usual_pos[pos_start + (pos_k * u[0] ** config.favourite_skew).astype(np.int64)]
    city = pop.home_city[card]
    new_shop = pop.city_first_merchant[city] + (u[1] * pop.city_merchant_count[city]).astype(np.int64)
    shop = np.where(u[2] < config.usual_shop_share, usual_shop, new_shop)

    e_start, e_k = pop.usual_ecom_start[card], np.diff(pop.usual_ecom_start)[card]
    usual_online = pop.usual_ecom[e_start + (e_k * u[1] ** config.favourite_skew).astype(np.int64)]
    n_merchants = len(pop.merchant_ids)
    any_online = pop.n_pos + (u[0] * (n_merchants - pop.n_pos)).astype(np.int64)
    online = np.where(u[2] < config.usual_online_share, usual_online, any_online)
    merchant = np.where(ecom, online, shop)

    log_amount = (
        pop.log_mu[card] + pop.merchant_mcc_shift[merchant] + pop.log_sigma[card] * rng.normal(size=m)
    )
    amount = np.clip(np.round(np.exp(log_amount), 2), config.min_amount, config.max_amount)
    return SwipeBatch(card=card, t=t, merchant=merchant, amount=amount, ecom=ecom)


def to_swipes(pop: Population, batch: SwipeBatch, id_prefix: str, first_seq: int) -> list[Swipe]:
    """Materialize a batch as `Swipe` records with ids `{id_prefix}{seq:010d}`."""
    countries = pop.geo.countries
    ids, mccs = pop.merchant_ids, pop.merchant_mcc
    merchant = batch.merchant
    lat = np.round(pop.merchant_lat[merchant], 5).tolist()
    lon = np.round(pop.merchant_lon[merchant], 5).tolist()
    country = pop.merchant_country[merchant].tolist()
    micros = np.round(batch.t * 1e6).astype(np.int64).tolist()
    token, make = pop.token, _make_swipe
    return [
        make(
            {
                "swipe_id": f"{id_prefix}{first_seq + i:010d}",
                "amount": amt,
                "currency": SETTLEMENT_CURRENCY,
                "merchant_id": ids[mi],
                "mcc": mccs[mi],
                "country": countries[country[i]],
                "lat": None if ec else lat[i],
                "lon": None if ec else lon[i],
                "channel": "ecom" if ec else "pos",
                "event_time": EPOCH + timedelta(microseconds=us),
                "card_token": token(c),
                "decision": None,
            }
        )
        for i, (c, us, mi, amt, ec) in enumerate(
            zip(
                batch.card.tolist(),
                micros,
                merchant.tolist(),
                batch.amount.tolist(),
                batch.ecom.tolist(),
                strict=True,
            )
        )
    ]


_FIELDS = frozenset(Swipe.model_fields)
_new, _set = object.__new__, object.__setattr__


def _assemble(fields: dict[str, Any]) -> Swipe:
    # What pydantic's model_construct does, minus its per-call bookkeeping: 1 us instead of 6 us,
    # which is most of the generator's budget. Only for fields valid by construction.
    swipe = _new(Swipe)
    _set(swipe, "__dict__", fields)
    _set(swipe, "__pydantic_fields_set__", set(_FIELDS))
    _set(swipe, "__pydantic_extra__", None)
    _set(swipe, "__pydantic_private__", None)
    return swipe


def _validated(fields: dict[str, Any]) -> Swipe:
    return Swipe(**fields)


def _pick_constructor() -> Callable[[dict[str, Any]], Swipe]:
    """The fast path if it builds exactly what validation builds on this pydantic version."""
    probe = {
        "swipe_id": "sw-probe", "amount": 12.5, "currency": "EUR", "merchant_id": "m-1", "mcc": "5411",
        "country": "FR", "lat": 48.8, "lon": 2.3, "channel": "pos", "event_time": EPOCH,
        "card_token": "ct_" + "0" * 32, "decision": None,
    }  # fmt: skip
    try:
        fast = _assemble(dict(probe))
        if fast == _validated(dict(probe)) and to_kafka(fast) == to_kafka(_validated(dict(probe))):
            return _assemble
    except Exception:  # any pydantic internals change: fall back to validating every swipe
        pass
    return _validated


_make_swipe = _pick_constructor()


def background(
    pop: Population,
    start: datetime,
    rng: np.random.Generator,
    *,
    end: datetime | None = None,
    count: int | None = None,
    cards: np.ndarray | None = None,
    id_prefix: str | None = None,
    config: TrafficConfig = TrafficConfig(),
) -> Iterator[Swipe]:
    """Yield normal swipes in event-time order from `start` until `end` or `count` (else forever).

    `cards` restricts the traffic to some cards (a scenario's own history). Swipe ids are
    `sw-<8 hex from rng>-<sequence>`, so the same seed gives the same ids.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    prefix = id_prefix if id_prefix is not None else f"sw-{int(rng.integers(0, 2**32)):08x}-"
    t = (start - EPOCH).total_seconds()
    t_end = (end - EPOCH).total_seconds() if end is not None else float("inf")
    emitted = 0
    while t < t_end and (count is None or emitted < count):
        t1 = min((t // SLICE_S + 1) * SLICE_S, t_end)
        batch = draw_slice(pop, t, t1, rng, cards, config)
        if count is not None and emitted + len(batch) > count:
            keep = count - emitted
            batch = SwipeBatch(*(a[:keep] for a in _columns(batch)))
        for lo in range(0, len(batch), MATERIALIZE):  # bounded memory: a million cards' hour is ~100k swipes
            part = SwipeBatch(*(a[lo : lo + MATERIALIZE] for a in _columns(batch)))
            yield from to_swipes(pop, part, prefix, emitted + lo)
        emitted += len(batch)
        t = t1


def _columns(batch: SwipeBatch) -> tuple[np.ndarray, ...]:
    return (batch.card, batch.t, batch.merchant, batch.amount, batch.ecom)
