"""Fraud scenarios as pure functions of (population, card or merchant, time, rng, params).

Each returns the scenario's swipes in time order, each labeled fraud or not. The parameters
describe how fraudsters behave in the simulation; the scorer never sees them and has to learn the
patterns from the swipes. docs/scenarios.md explains every parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

import numpy as np

from foundation.geometry import haversine_km
from services.generator.population import SETTLEMENT_CURRENCY, Population
from services.generator.traffic import background
from streaming.schema import Label, Swipe

HIGH_RISK_MCCS = ("5732", "5944", "5947")  # electronics, jewellery, gift cards: resold for cash
FAR_KM = 250.0  # a thief's city, when not abroad, is at least this far from the card's home
STORY_THEFT_TIME = time(9, 0, 0)  # the demo's first fraudulent purchase, right after a 30-minute boundary


@dataclass(frozen=True)
class LabeledSwipe:
    swipe: Swipe
    is_fraud: bool
    scenario: str


def story_theft_at(day: date) -> datetime:
    """The stolen-card story's theft time: 09:00:00 UTC on `day`."""
    return datetime.combine(day, STORY_THEFT_TIME, tzinfo=UTC)


@dataclass(frozen=True)
class StolenCardParams:
    history_days: float = 14.0  # normal use by the owner before the theft
    burst_swipes: int = 12
    burst_minutes: float = 30.0  # every fraudulent swipe falls in [theft_at, theft_at + this)
    foreign_share: float = 0.8  # thief abroad; otherwise a city of the home country far from home
    mccs: tuple[str, ...] = HIGH_RISK_MCCS
    first_amount: float = 45.0  # amounts climb geometrically from first to last, with noise
    last_amount: float = 1_800.0


@dataclass(frozen=True)
class CardTestingParams:
    history_days: float = 7.0
    probes: int = 15  # tiny online charges to check the card works
    probe_minutes: float = 8.0
    probe_amount: tuple[float, float] = (0.5, 2.0)
    cash_out_after_minutes: float = 20.0  # the large purchase, after the last probe
    cash_out_amount: tuple[float, float] = (600.0, 2_500.0)
    probe_mccs: tuple[str, ...] = ("5815", "4899", "5999")
    cash_out_mccs: tuple[str, ...] = ("5732", "5947")


@dataclass(frozen=True)
class SkimmerParams:
    victims: int = 20  # cards that used the compromised shop while the skimmer was in place
    history_days: float = 7.0
    compromise_days: float = 3.0
    misuse_after_days: tuple[float, float] = (4.0, 12.0)  # from each victim's visit to its first misuse
    misuse_swipes: tuple[int, int] = (2, 5)  # per victim, inclusive
    misuse_hours: float = 6.0  # a victim's misuses are this close together
    mccs: tuple[str, ...] = HIGH_RISK_MCCS


@dataclass(frozen=True)
class TakeoverParams:
    history_days: float = 14.0
    swipes: int = 8
    window_hours: float = 4.0
    amount_factor: tuple[float, float] = (4.0, 12.0)  # times the card's median spend
    mccs: tuple[str, ...] = ("5732", "5947", "4829", "5815")


class _Builder:
    """Makes one scenario's swipes with ids `sc-<tag>-<8 hex>-<seq>`, validated by the schema."""

    def __init__(self, pop: Population, tag: str, rng: np.random.Generator) -> None:
        self.pop, self.prefix, self.seq = pop, f"sc-{tag}-{int(rng.integers(0, 2**32)):08x}-", 0

    def history(self, cards: list[int], end: datetime, days: float, rng: np.random.Generator) -> list[Swipe]:
        if days <= 0:
            return []
        start = end - timedelta(days=days)
        return list(
            background(self.pop, start, rng, end=end, cards=np.array(cards), id_prefix=self.prefix + "h")
        )

    def swipe(self, card: int, merchant: int, amount: float, at: datetime) -> Swipe:
        pop = self.pop
        self.seq += 1
        online = merchant >= pop.n_pos
        return Swipe(
            swipe_id=f"{self.prefix}{self.seq:06d}",
            card_token=pop.token(card),
            amount=round(float(amount), 2),
            currency=SETTLEMENT_CURRENCY,
            merchant_id=pop.merchant_ids[merchant],
            mcc=pop.merchant_mcc[merchant],
            country=pop.geo.countries[pop.merchant_country[merchant]],
            lat=None if online else round(float(pop.merchant_lat[merchant]), 5),
            lon=None if online else round(float(pop.merchant_lon[merchant]), 5),
            channel="ecom" if online else "pos",
            event_time=at,
        )


def _merchants(
    pop: Population, *, online: bool, mccs: tuple[str, ...], countries: np.ndarray | None = None
) -> np.ndarray:
    """Merchant indices of one kind with one of `mccs`, in `countries` when any exist there."""
    lo, hi = (pop.n_pos, len(pop.merchant_ids)) if online else (0, pop.n_pos)
    idx = np.arange(lo, hi)
    idx = idx[np.isin(np.array(pop.merchant_mcc[lo:hi]), mccs)]
    if countries is not None:
        local = idx[np.isin(pop.merchant_country[idx], countries)]
        if len(local):
            return local
    return idx


def _shops_in(pop: Population, city: int, mccs: tuple[str, ...]) -> np.ndarray:
    """Shops of `city` with one of `mccs`; if it has none, such shops elsewhere in its country."""
    shops = _merchants(pop, online=False, mccs=mccs, countries=np.array([pop.geo.city_country[city]]))
    first, count = pop.city_first_merchant[city], pop.city_merchant_count[city]
    in_city = shops[(shops >= first) & (shops < first + count)]
    return in_city if len(in_city) else shops


def _far_city(pop: Population, card: int, foreign_share: float, rng: np.random.Generator) -> int:
    """A city abroad (with probability `foreign_share`) or at least FAR_KM from home in the home country."""
    geo = pop.geo
    abroad = geo.city_country != geo.city_country[pop.home_city[card]]
    home = float(pop.home_lat[card]), float(pop.home_lon[card])
    far = np.array(
        [haversine_km(*home, lat, lon) > FAR_KM for lat, lon in zip(geo.city_lat, geo.city_lon, strict=True)]
    )
    domestic = np.flatnonzero(~abroad & far)
    if rng.random() < foreign_share or len(domestic) == 0:  # no far city at home: the Netherlands
        return int(rng.choice(np.flatnonzero(abroad)))
    return int(rng.choice(domestic))


def _minutes(at: datetime, minutes: np.ndarray) -> list[datetime]:
    return [at + timedelta(minutes=float(m)) for m in minutes]


def _foreign_countries(pop: Population, card: int) -> np.ndarray:
    """Every country index but the card's home country."""
    home = pop.geo.city_country[pop.home_city[card]]
    return np.array([c for c in range(len(pop.geo.countries)) if c != home])


ParamsT = TypeVar("ParamsT", StolenCardParams, CardTestingParams, SkimmerParams, TakeoverParams)


def _with_history(params: ParamsT, history_days: float | None) -> ParamsT:
    """The default parameters, with the history length overridden when given."""
    return params if history_days is None else replace(params, history_days=history_days)


def _merge(name: str, legit: list[Swipe], fraud: list[Swipe]) -> list[LabeledSwipe]:
    out = [LabeledSwipe(s, False, name) for s in legit] + [LabeledSwipe(s, True, name) for s in fraud]
    return sorted(out, key=lambda ls: (ls.swipe.event_time, ls.swipe.swipe_id))


def stolen_card(
    pop: Population,
    card: int,
    theft_at: datetime,
    rng: np.random.Generator,
    params: StolenCardParams = StolenCardParams(),
) -> list[LabeledSwipe]:
    """The owner's normal history, then a burst at high-risk shops far from home from `theft_at`."""
    b = _Builder(pop, "stolen", rng)
    history = b.history([card], theft_at, params.history_days, rng)
    city = _far_city(pop, card, params.foreign_share, rng)
    shops = _shops_in(pop, city, params.mccs)
    n = params.burst_swipes
    offsets = np.concatenate([[0.0], np.sort(rng.uniform(0, params.burst_minutes, n - 1))])
    ratio = (params.last_amount / params.first_amount) ** (1 / max(n - 1, 1))
    amounts = np.sort(params.first_amount * ratio ** np.arange(n) * rng.lognormal(0, 0.15, n))
    merchants = rng.choice(shops, size=n)
    fraud = [
        b.swipe(card, int(m), a, t)
        for m, a, t in zip(merchants, amounts, _minutes(theft_at, offsets), strict=True)
    ]
    return _merge("stolen_card", history, fraud)


def card_testing(
    pop: Population,
    card: int,
    start: datetime,
    rng: np.random.Generator,
    params: CardTestingParams = CardTestingParams(),
) -> list[LabeledSwipe]:
    """Tiny online charges at one merchant within minutes from `start`, then one large purchase."""
    b = _Builder(pop, "testing", rng)
    history = b.history([card], start, params.history_days, rng)
    foreign = _foreign_countries(pop, card)
    probe_at = int(rng.choice(_merchants(pop, online=True, mccs=params.probe_mccs, countries=foreign)))
    offsets = np.concatenate([[0.0], np.sort(rng.uniform(0, params.probe_minutes, params.probes - 1))])
    probes = [b.swipe(card, probe_at, rng.uniform(*params.probe_amount), t) for t in _minutes(start, offsets)]
    cash_out_at = probes[-1].event_time + timedelta(minutes=params.cash_out_after_minutes)
    shop = int(rng.choice(_merchants(pop, online=True, mccs=params.cash_out_mccs, countries=foreign)))
    cash_out = b.swipe(card, shop, rng.uniform(*params.cash_out_amount), cash_out_at)
    return _merge("card_testing", history, [*probes, cash_out])


def compromised_merchant(
    pop: Population,
    merchant: int,
    start: datetime,
    rng: np.random.Generator,
    params: SkimmerParams = SkimmerParams(),
) -> list[LabeledSwipe]:
    """A skimmer at shop `merchant` from `start`: its customers' cards are cloned, misused days later.

    Victims are cards living in the shop's city; each makes one genuine purchase there while the
    skimmer is in place, then a fraud ring in one far city uses the clones at high-risk shops.
    """
    if merchant >= pop.n_pos:
        raise ValueError(f"merchant {merchant} is an online merchant; a skimmer needs a shop (< {pop.n_pos})")
    b = _Builder(pop, "skimmer", rng)
    city = int(np.searchsorted(pop.city_first_merchant, merchant, side="right") - 1)
    locals_ = np.flatnonzero(pop.home_city == city)
    victims = rng.choice(locals_, size=min(params.victims, len(locals_)), replace=False).tolist()
    visits = [start + timedelta(days=float(d)) for d in rng.uniform(0, params.compromise_days, len(victims))]
    history = b.history(victims, start, params.history_days, rng)
    ring_city = _far_city(pop, victims[0], 1.0, rng)
    shops = _shops_in(pop, ring_city, params.mccs)
    fraud: list[Swipe] = []
    for card, visit in zip(victims, visits, strict=True):
        spend = np.exp(
            pop.log_mu[card] + pop.merchant_mcc_shift[merchant] + pop.log_sigma[card] * rng.normal()
        )
        history.append(b.swipe(card, merchant, max(spend, 0.5), visit))
        first = visit + timedelta(days=float(rng.uniform(*params.misuse_after_days)))
        k = int(rng.integers(params.misuse_swipes[0], params.misuse_swipes[1] + 1))
        hours = np.concatenate([[0.0], np.sort(rng.uniform(0, params.misuse_hours, k - 1))])
        for h in hours:
            amount = rng.uniform(150, 1_500)
            fraud.append(b.swipe(card, int(rng.choice(shops)), amount, first + timedelta(hours=float(h))))
    return _merge("compromised_merchant", history, fraud)


def account_takeover(
    pop: Population,
    card: int,
    takeover_at: datetime,
    rng: np.random.Generator,
    params: TakeoverParams = TakeoverParams(),
) -> list[LabeledSwipe]:
    """From `takeover_at`: online purchases from a new country, new MCCs, several times the usual amount."""
    b = _Builder(pop, "takeover", rng)
    history = b.history([card], takeover_at, params.history_days, rng)
    country = int(rng.choice(_foreign_countries(pop, card)))
    shops = _merchants(pop, online=True, mccs=params.mccs, countries=np.array([country]))
    hours = np.concatenate([[0.0], np.sort(rng.uniform(0, params.window_hours, params.swipes - 1))])
    median = float(np.exp(pop.log_mu[card]))
    fraud = [
        b.swipe(
            card,
            int(rng.choice(shops)),
            median * rng.uniform(*params.amount_factor),
            takeover_at + timedelta(hours=float(h)),
        )
        for h in hours
    ]
    return _merge("account_takeover", history, fraud)


ScenarioRun = Callable[
    [Population, datetime, np.random.Generator, float | None, timedelta | None], list[LabeledSwipe]
]


def _run_stolen(
    pop: Population,
    at: datetime,
    rng: np.random.Generator,
    history_days: float | None,
    room: timedelta | None,
) -> list[LabeledSwipe]:
    p = _with_history(StolenCardParams(), history_days)
    return stolen_card(pop, int(rng.integers(pop.cards)), at, rng, p)


def _run_testing(
    pop: Population,
    at: datetime,
    rng: np.random.Generator,
    history_days: float | None,
    room: timedelta | None,
) -> list[LabeledSwipe]:
    p = _with_history(CardTestingParams(), history_days)
    return card_testing(pop, int(rng.integers(pop.cards)), at, rng, p)


def _run_skimmer(
    pop: Population,
    at: datetime,
    rng: np.random.Generator,
    history_days: float | None,
    room: timedelta | None,
) -> list[LabeledSwipe]:
    p = _with_history(SkimmerParams(), history_days)
    length_days = p.compromise_days + p.misuse_after_days[1] + p.misuse_hours / 24
    if room is not None and room < timedelta(days=length_days):
        # a short run: shrink the calendar (not the counts) so the misuse happens before the end
        f = room / timedelta(days=length_days)
        p = replace(
            p,
            compromise_days=p.compromise_days * f,
            misuse_after_days=(p.misuse_after_days[0] * f, p.misuse_after_days[1] * f),
            misuse_hours=p.misuse_hours * f,
        )
    card = int(rng.integers(pop.cards))  # the skimmer sits in a shop a random card uses: one with locals
    return compromised_merchant(pop, int(pop.usual_merchants(card)[0]), at, rng, p)


def _run_takeover(
    pop: Population,
    at: datetime,
    rng: np.random.Generator,
    history_days: float | None,
    room: timedelta | None,
) -> list[LabeledSwipe]:
    p = _with_history(TakeoverParams(), history_days)
    return account_takeover(pop, int(rng.integers(pop.cards)), at, rng, p)


# name -> run(population, anchor, rng, history_days (None: default), room (time left in the run, or None))
SCENARIOS: dict[str, ScenarioRun] = {
    "stolen_card": _run_stolen,
    "card_testing": _run_testing,
    "compromised_merchant": _run_skimmer,
    "account_takeover": _run_takeover,
}


@dataclass(frozen=True)
class LabelDelay:
    """When ground truth arrives: chargebacks days after the swipe, lognormal.

    `compression` divides every delay, for replays that run days of event time in minutes.
    Legit swipes get no label (no chargeback means genuine) unless `legit_share` asks for some.
    """

    median_days: float = 5.0
    sigma: float = 0.6
    compression: float = 1.0
    legit_share: float = 0.0


def labels_for(
    labeled: list[LabeledSwipe], rng: np.random.Generator, delay: LabelDelay = LabelDelay()
) -> list[tuple[Label, datetime]]:
    """A label per fraud swipe (and per `legit_share` of the others) with when to publish it, by time.

    `publish_at` is on the event-time clock of the swipes: event time + delay / compression; the
    label's `reported_at` is the same instant.
    """
    if delay.compression <= 0:
        raise ValueError(f"label delay compression must be > 0, got {delay.compression}")
    out = []
    for ls in labeled:
        # draw for every swipe, so adding legit labels does not shift the fraud labels' delays
        days = delay.median_days * float(np.exp(delay.sigma * rng.normal()))
        if not ls.is_fraud and rng.random() >= delay.legit_share:
            continue
        publish_at = ls.swipe.event_time + timedelta(days=days / delay.compression)
        label = Label.of(ls.swipe, is_fraud=ls.is_fraud, scenario=ls.scenario, reported_at=publish_at)
        out.append((label, publish_at))
    return sorted(out, key=lambda lp: (lp[1], lp[0].swipe_id))
