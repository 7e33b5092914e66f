"""Fraud families seen in real portfolios, beyond the four classic scenarios: pure functions of an rng.

- `terminal_compromise`: a merchant's terminal (or checkout) is compromised for weeks; every swipe
  it takes in that window, whichever card made it, is fraud. The window is returned as a
  `MerchantCompromise`, and `relabel_compromised` marks the background traffic it covers.
- `escalating_card`: a compromised card used for days near home, the amounts inflated day after day.
- `low_and_slow`: card-not-present fraud at home: small online charges at domestic merchants,
  spread over weeks, at the owner's usual hours.

The parameters are this project's own guesses at how such fraud behaves, not fitted to any dataset;
docs/scenarios.md explains each. Like `services.generator.scenarios`, nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from services.generator.population import Population
from services.generator.scenarios import LabeledSwipe, _Builder, _merchants, _merge
from streaming.schema import Swipe

TERMINAL = "terminal_compromise"
ESCALATION = "escalating_card"
LOW_AND_SLOW = "low_and_slow"


@dataclass(frozen=True)
class MerchantCompromise:
    """Every swipe at `merchant_id` with event time in [start, end) is fraud."""

    merchant_id: str
    start: datetime
    end: datetime

    def covers(self, swipe: Swipe) -> bool:
        return swipe.merchant_id == self.merchant_id and self.start <= swipe.event_time < self.end


@dataclass(frozen=True)
class TerminalCompromiseParams:
    days: tuple[float, float] = (9.0, 40.0)  # how long the compromise lasts, uniform
    online_share: float = 0.25  # an online merchant's checkout instead of a shop's terminal
    ring_swipes_per_day: float = 1.5  # extra charges of cards from anywhere, run through it by the ring
    ring_amount_factor: tuple[float, float] = (0.8, 2.5)  # times the merchant's typical ticket


@dataclass(frozen=True)
class EscalationParams:
    history_days: float = 10.0
    days: tuple[float, float] = (4.0, 12.0)  # how long the misuse goes on
    swipes_per_day: tuple[float, float] = (1.0, 3.0)
    first_factor: tuple[float, float] = (0.5, 1.2)  # the first fraudulent amount, times the card's median
    daily_growth: tuple[float, float] = (1.25, 1.7)  # the amounts grow by this factor a day
    max_amount: float = 6_000.0
    shop_share: float = 0.7  # at shops of the home city (a cloned card used nearby); else domestic online


@dataclass(frozen=True)
class LowAndSlowParams:
    history_days: float = 10.0
    days: tuple[float, float] = (8.0, 28.0)
    swipes_per_day: tuple[float, float] = (0.3, 1.0)
    amount: tuple[float, float] = (2.0, 30.0)  # log-uniform: small enough to pass unnoticed
    mccs: tuple[str, ...] = ("5815", "4899", "5999", "5651")  # digital goods, subscriptions, marketplace


@dataclass(frozen=True)
class TerminalCompromise:
    window: MerchantCompromise
    swipes: list[LabeledSwipe]  # the ring's own charges; the merchant's regular traffic is relabeled


def typical_ticket(pop: Population, merchant: int) -> float:
    """The median card's median spend at `merchant`."""
    return float(np.exp(np.median(pop.log_mu) + pop.merchant_mcc_shift[merchant]))


def terminal_compromise(
    pop: Population,
    merchant: int,
    start: datetime,
    rng: np.random.Generator,
    params: TerminalCompromiseParams = TerminalCompromiseParams(),
    room: timedelta | None = None,
) -> TerminalCompromise:
    """The window of `merchant`'s compromise from `start` (at most `room` long), and the ring's charges.

    The ring's charges are made by random cards of the whole population, at Poisson times over the
    window, at about the merchant's usual ticket; all are fraud.
    """
    length = timedelta(days=float(rng.uniform(*params.days)))
    if room is not None:
        length = max(min(length, room), timedelta(0))
    window = MerchantCompromise(pop.merchant_ids[merchant], start, start + length)
    b = _Builder(pop, "terminal", rng)
    days = length / timedelta(days=1)
    n = int(rng.poisson(params.ring_swipes_per_day * days))
    offsets = np.sort(rng.uniform(0, length.total_seconds(), n))
    cards = rng.integers(0, pop.cards, size=n)
    ticket = typical_ticket(pop, merchant)
    fraud = [
        b.swipe(
            int(c), merchant, ticket * rng.uniform(*params.ring_amount_factor), start + timedelta(seconds=s)
        )
        for c, s in zip(cards.tolist(), offsets.tolist(), strict=True)
    ]
    return TerminalCompromise(window, _merge(TERMINAL, [], fraud))


def relabel_compromised(
    labeled: Iterable[LabeledSwipe], windows: Iterable[MerchantCompromise]
) -> list[LabeledSwipe]:
    """`labeled` with every swipe a window covers marked fraud of `terminal_compromise`; order kept."""
    by_merchant: dict[str, list[MerchantCompromise]] = {}
    for w in windows:
        by_merchant.setdefault(w.merchant_id, []).append(w)
    out = []
    for ls in labeled:
        hit = any(w.covers(ls.swipe) for w in by_merchant.get(ls.swipe.merchant_id, ()))
        out.append(LabeledSwipe(ls.swipe, True, TERMINAL) if hit and not ls.is_fraud else ls)
    return out


def _spread(start: datetime, days: float, per_day: float, rng: np.random.Generator) -> np.ndarray:
    """At least one Poisson time (seconds after `start`) over `days`, sorted."""
    n = max(1, int(rng.poisson(per_day * days)))
    return np.sort(rng.uniform(0, days * 86_400.0, n))


def escalating_card(
    pop: Population,
    card: int,
    start: datetime,
    rng: np.random.Generator,
    params: EscalationParams = EscalationParams(),
) -> list[LabeledSwipe]:
    """The owner's history, then from `start` fraud near home whose amounts grow by a daily factor.

    The first fraudulent swipe is at `start`; amount(t) = first * growth ** (days since start),
    with ±20 % noise, capped at `max_amount`.
    """
    b = _Builder(pop, "escalate", rng)
    history = b.history([card], start, params.history_days, rng)
    days = float(rng.uniform(*params.days))
    offsets = _spread(start, days, float(rng.uniform(*params.swipes_per_day)), rng)
    offsets[0] = 0.0
    median = float(np.exp(pop.log_mu[card]))
    first, growth = median * rng.uniform(*params.first_factor), rng.uniform(*params.daily_growth)
    city = pop.home_city[card]
    shops = pop.city_first_merchant[city] + np.arange(pop.city_merchant_count[city])
    online = np.arange(pop.n_pos, len(pop.merchant_ids))
    domestic = online[pop.merchant_country[online] == pop.geo.city_country[city]]
    online = domestic if len(domestic) else online
    fraud = []
    for s in offsets.tolist():
        amount = min(first * growth ** (s / 86_400.0) * rng.lognormal(0, 0.2), params.max_amount)
        merchant = rng.choice(shops) if rng.random() < params.shop_share else rng.choice(online)
        fraud.append(b.swipe(card, int(merchant), max(amount, 0.5), start + timedelta(seconds=s)))
    return _merge(ESCALATION, history, fraud)


def _domestic_online(pop: Population, card: int, mccs: tuple[str, ...]) -> np.ndarray:
    """Online merchants of the card's home country with one of `mccs`; else of any MCC; else any of `mccs`."""
    online = np.arange(pop.n_pos, len(pop.merchant_ids))
    home = pop.geo.city_country[pop.home_city[card]]
    domestic = online[pop.merchant_country[online] == home]
    fits = domestic[np.isin(np.array(pop.merchant_mcc)[domestic], mccs)]
    if len(fits):
        return fits
    return domestic if len(domestic) else _merchants(pop, online=True, mccs=mccs)


def low_and_slow(
    pop: Population,
    card: int,
    start: datetime,
    rng: np.random.Generator,
    params: LowAndSlowParams = LowAndSlowParams(),
) -> list[LabeledSwipe]:
    """The owner's history, then small online charges at home-country merchants over weeks.

    Each charge falls at an hour the owner usually shops (the card's own daily rhythm), so neither
    place, channel mix nor time of day gives it away; none is before `start`.
    """
    b = _Builder(pop, "lowslow", rng)
    history = b.history([card], start, params.history_days, rng)
    days = float(rng.uniform(*params.days))
    n = max(1, int(rng.poisson(float(rng.uniform(*params.swipes_per_day)) * days)))
    day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
    day = np.sort(rng.integers(0, max(1, int(days)), size=n))
    day[0] = 0
    local_hour = rng.choice(24, size=n, p=pop.hour_weights(card))
    utc_s = day * 86_400.0 + (local_hour - pop.utc_offset[card]) * 3600.0 + rng.uniform(0, 3600, n)
    # an hour of start's day already past is taken the next day instead
    times = sorted(
        t if t >= start else t + timedelta(days=1)
        for t in (day0 + timedelta(seconds=float(s)) for s in utc_s)
    )
    shops = _domestic_online(pop, card, params.mccs)
    lo, hi = np.log(params.amount[0]), np.log(params.amount[1])
    fraud = [b.swipe(card, int(rng.choice(shops)), float(np.exp(rng.uniform(lo, hi))), t) for t in times]
    return _merge(LOW_AND_SLOW, history, fraud)
