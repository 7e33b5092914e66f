"""Per-card feature state: a snapshot-able dataclass and the pure fold that turns swipes into features.

This is the one definition of the card features. The Spark job runs it per card inside
`applyInPandasWithState` (streaming) and `applyInPandas` (batch recomputation, training); the
scorer runs it to cover the stream's micro-batch lag; the replay runs it for the batch
counterfactual. No I/O here.

Sliding windows are trailing windows ending at the card's newest swipe (`as_of`):

    horizon 10m       |<------------ 600 s ------------>|
    swipes      x        x   x                 x        x
                         ^ counted              as_of ---^
                ^ older than as_of - 600 s: not counted

A session is a run of swipes no more than `session_gap_s` apart; the live session is the one the
newest swipe belongs to.

The card's home is the mean position of its card-present swipes (online swipes have none), kept as
a running mean of unit vectors on the sphere so it has no trouble at the antimeridian or the poles:

    located swipes   Paris  Paris  (online)  Lyon  Paris
    home             Paris  Paris   Paris    ~Paris-Lyon, pulled 1/3 of the way, then 1/4 back

A burst of swipes far away drags the mean along, so the card also keeps its recent places: the grid
cells of its last card-present swipes, which a few far swipes add to without moving the others.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streaming.schema import CardFeatures, CardProfile, SessionFeatures, Swipe, WindowFeatures

MAX_PROFILE_COUNTRIES = 16
MAX_PROFILE_MERCHANTS = 32
MAX_PROFILE_MCCS = 16
MAX_PROFILE_PLACES = 16
PLACE_CELL_DEG = 0.25  # about 28 km north-south: a city is a handful of cells


@dataclass(frozen=True)
class FeatureConfig:
    """Window horizons and session gap, in seconds."""

    horizons_s: tuple[int, ...] = (600, 3600, 86400)
    session_gap_s: int = 1800

    @property
    def retention_s(self) -> int:
        return max(self.horizons_s)


@dataclass
class RecentSwipe:
    swipe_id: str
    t: float  # event time, epoch seconds
    amount: float
    merchant_id: str
    country: str
    denied: bool


@dataclass
class CardState:
    """Everything the fold needs about one card. Plain fields, so Spark can store it as a row."""

    recent: list[RecentSwipe] = field(default_factory=list)  # within the longest horizon, by time
    n: int = 0
    log_mean: float = 0.0
    log_m2: float = 0.0
    ecom: int = 0
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    countries: list[str] = field(default_factory=list)  # most recent last
    merchants: list[str] = field(default_factory=list)
    mccs: list[str] = field(default_factory=list)
    session_start: float = 0.0
    session_last: float = 0.0
    session_swipes: int = 0
    session_amount: float = 0.0
    session_merchants: list[str] = field(default_factory=list)
    session_countries: list[str] = field(default_factory=list)
    last_swipe_id: str = ""
    last_t: float = 0.0
    last_country: str = ""
    last_lat: float | None = None
    last_lon: float | None = None
    places: list[str] = field(default_factory=list)  # grid cells, most recent last
    located: int = 0  # card-present swipes with a position
    home_x: float = 0.0  # running mean of their positions as unit vectors
    home_y: float = 0.0
    home_z: float = 0.0


def _touch(items: list[str], value: str, limit: int) -> None:
    """Move `value` to the end (most recent), dropping the oldest beyond `limit`."""
    if value in items:
        items.remove(value)
    items.append(value)
    if len(items) > limit:
        del items[0]


def _epoch(t: datetime) -> float:
    return t.timestamp()


def fold(state: CardState, swipes: Iterable[Swipe], config: FeatureConfig) -> CardState:
    """Fold new swipes into the state, oldest first. Swipes already seen (same id) are ignored.

    Mutates and returns `state`. Late swipes (older than the newest seen) still count in the windows
    and the profile; they do not reopen an earlier session.
    """
    seen = {r.swipe_id for r in state.recent}
    for s in sorted(swipes, key=lambda s: s.event_time):
        if s.swipe_id in seen or s.swipe_id == state.last_swipe_id:
            continue
        seen.add(s.swipe_id)
        t = _epoch(s.event_time)
        state.recent.append(
            RecentSwipe(s.swipe_id, t, s.amount, s.merchant_id, s.country, s.decision == "deny")
        )
        # Welford on log-amount: amounts are heavy-tailed, their logarithm is close to normal.
        x = math.log1p(s.amount)
        state.n += 1
        delta = x - state.log_mean
        state.log_mean += delta / state.n
        state.log_m2 += delta * (x - state.log_mean)
        state.ecom += s.channel == "ecom"
        state.hours[s.event_time.astimezone(UTC).hour] += 1
        _touch(state.countries, s.country, MAX_PROFILE_COUNTRIES)
        _touch(state.merchants, s.merchant_id, MAX_PROFILE_MERCHANTS)
        _touch(state.mccs, s.mcc, MAX_PROFILE_MCCS)
        if s.lat is not None and s.lon is not None:
            _touch(state.places, place_of(s.lat, s.lon), MAX_PROFILE_PLACES)
            state.located += 1
            home = move_home((state.home_x, state.home_y, state.home_z), state.located, s.lat, s.lon)
            state.home_x, state.home_y, state.home_z = home
        if t < state.last_t:
            continue  # late: counted above, but it is not the card's newest position or session
        if state.session_swipes == 0 or t - state.session_last > config.session_gap_s:
            state.session_start, state.session_swipes, state.session_amount = t, 0, 0.0
            state.session_merchants, state.session_countries = [], []
        state.session_last = t
        state.session_swipes += 1
        state.session_amount += s.amount
        _touch(state.session_merchants, s.merchant_id, MAX_PROFILE_MERCHANTS)
        _touch(state.session_countries, s.country, MAX_PROFILE_COUNTRIES)
        state.last_swipe_id, state.last_t, state.last_country = s.swipe_id, t, s.country
        state.last_lat, state.last_lon = s.lat, s.lon
    state.recent.sort(key=lambda r: r.t)
    horizon_start = state.last_t - config.retention_s
    state.recent = [r for r in state.recent if r.t > horizon_start]
    return state


EARTH_RADIUS_KM = 6371.0088


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)


def home_of(x: float, y: float, z: float) -> tuple[float, float, float] | None:
    """(lat, lon, spread_km) of a mean of unit vectors; None for a zero vector.

    The mean's length r is 1 - (mean squared chord) / 2 between the points and their mean
    direction, so the spread (the root-mean-square chord, in km) keeps what the direction drops.
    """
    r = math.sqrt(x * x + y * y + z * z)
    if r < 1e-9:
        return None
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    spread = EARTH_RADIUS_KM * math.sqrt(max(0.0, 2.0 * (1.0 - r)))
    return lat, math.degrees(math.atan2(y, x)), spread


def home_vector(lat: float, lon: float, spread_km: float) -> tuple[float, float, float]:
    """The inverse of `home_of`: the mean vector back from its direction and spread."""
    r = 1.0 - (spread_km / EARTH_RADIUS_KM) ** 2 / 2.0
    x, y, z = unit_vector(lat, lon)
    return r * x, r * y, r * z


def place_of(lat: float, lon: float) -> str:
    """The grid cell of a position, as "<lat index>:<lon index>" of PLACE_CELL_DEG cells."""
    return f"{math.floor(lat / PLACE_CELL_DEG)}:{math.floor(lon / PLACE_CELL_DEG)}"


def place_center(place: str) -> tuple[float, float]:
    i, j = place.split(":")
    return (int(i) + 0.5) * PLACE_CELL_DEG, (int(j) + 0.5) * PLACE_CELL_DEG


def move_home(mean: tuple[float, float, float], k: int, lat: float, lon: float) -> tuple[float, float, float]:
    """The running mean of `k - 1` positions (as unit vectors) after adding the k-th."""
    x, y, z = unit_vector(lat, lon)
    return mean[0] + (x - mean[0]) / k, mean[1] + (y - mean[1]) / k, mean[2] + (z - mean[2]) / k


def windows(recent: Sequence[RecentSwipe], as_of: float, horizons_s: Sequence[int]) -> list[WindowFeatures]:
    """Trailing-window aggregates over (as_of - horizon, as_of] for each horizon."""
    out = []
    for h in horizons_s:
        inside = [r for r in recent if as_of - h < r.t <= as_of]
        amounts = [r.amount for r in inside]
        out.append(
            WindowFeatures(
                horizon_s=h,
                count=len(inside),
                amount_sum=round(sum(amounts), 6),
                amount_max=max(amounts, default=0.0),
                amount_mean=round(sum(amounts) / len(amounts), 6) if amounts else 0.0,
                merchants=len({r.merchant_id for r in inside}),
                countries=len({r.country for r in inside}),
                denied=sum(r.denied for r in inside),
            )
        )
    return out


def features(card_token: str, state: CardState, config: FeatureConfig, computed_at: datetime) -> CardFeatures:
    """The feature record for a card whose state has folded at least one swipe."""
    if state.n == 0:
        raise ValueError("no swipe folded yet: a card without swipes has no features")
    std = math.sqrt(state.log_m2 / (state.n - 1)) if state.n > 1 else 0.0
    home = home_of(state.home_x, state.home_y, state.home_z) if state.located else None
    return CardFeatures(
        card_token=card_token,
        as_of=datetime.fromtimestamp(state.last_t, UTC),
        computed_at=computed_at,
        last_swipe_id=state.last_swipe_id,
        last_country=state.last_country,
        last_lat=state.last_lat,
        last_lon=state.last_lon,
        windows=windows(state.recent, state.last_t, config.horizons_s),
        session=SessionFeatures(
            start=datetime.fromtimestamp(state.session_start, UTC),
            swipes=state.session_swipes,
            amount=round(state.session_amount, 6),
            duration_s=state.session_last - state.session_start,
            merchants=len(state.session_merchants),
            countries=len(state.session_countries),
        ),
        profile=CardProfile(
            swipes=state.n,
            log_amount_mean=round(state.log_mean, 9),
            log_amount_std=round(std, 9),
            ecom_share=round(state.ecom / state.n, 9),
            hour_histogram=list(state.hours),
            countries=list(state.countries),
            merchants=list(state.merchants),
            mccs=list(state.mccs),
            home_lat=round(home[0], 6) if home else None,
            home_lon=round(home[1], 6) if home else None,
            home_spread_km=round(home[2], 6) if home else None,
            located_swipes=state.located,
            places=list(state.places),
        ),
    )
