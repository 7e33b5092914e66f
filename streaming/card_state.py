"""A card's features merged from its tiles: trailing windows, the live session and the profile.

`CardState` holds a card's tiles (`streaming.tiles`); `fold` adds swipes to them, `features` merges
them into the `CardFeatures` record as of the card's newest swipe. The scorer merges the tiles it
reads from `card-tiles` with the same `features`; training, the backtest and the replay fold
swipes with `fold`. No I/O here.

A trailing window of horizon H reads the tiles of one grain (`window_grain`: the coarsest grain
that fits at least MIN_TILES_PER_WINDOW times in H) that overlap (as_of - H, as_of]. The tile at the
far edge is counted whole, so a window takes in at most one tile of swipes more than the exact
trailing window, never fewer:

    minute tiles  |09:30|09:31| ... |09:40|09:41|        as_of 09:41:07, H = 10 min
    window                 (09:31:07 ................ 09:41:07]
    counted             [09:31 ...................... 09:41:07]   up to 1 min more, at the far edge

The live session comes from minute tiles: swipes of one minute are never a session gap apart, so
the session starts after the newest gap of more than `session_gap_s` between two non-empty minute
tiles (`next.first - previous.last`). The profile (log-amount mean and spread, e-commerce share,
hour of day, countries, merchants, MCCs, places, home) merges the day tiles of the last `profile_s`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streaming.geometry import home_of
from streaming.schema import CardFeatures, CardProfile, SessionFeatures, Swipe, WindowFeatures
from streaming.tiles import GRAINS_S, Tile, TileKey, add_swipe

MAX_PROFILE_COUNTRIES = 16
MAX_PROFILE_MERCHANTS = 32
MAX_PROFILE_MCCS = 16
MAX_PROFILE_PLACES = 16
MIN_TILES_PER_WINDOW = 6
DAY_S = 86400
_US = 1_000_000


@dataclass(frozen=True)
class FeatureConfig:
    """Window horizons, session gap and profile span, in seconds."""

    horizons_s: tuple[int, ...] = (600, 3600, 86400)
    session_gap_s: int = 1800
    profile_s: int = 30 * DAY_S
    # how far back minute tiles are kept for the live session: a session longer than this is cut
    session_span_s: int = 4 * 3600

    @property
    def retention_s(self) -> int:
        """The longest look-back of any feature: older swipes change nothing."""
        return max(self.tile_retention_s(g) for g in GRAINS_S)

    def tile_retention_s(self, grain_s: int) -> int:
        """How long after a tile ends, behind the card's newest swipe, a feature still reads it."""
        needed = [h for h in self.horizons_s if window_grain(h) == grain_s]
        if grain_s == GRAINS_S[0]:
            needed.append(self.session_span_s)
        if grain_s == GRAINS_S[-1]:
            needed.append(self.profile_s)
        return max(needed, default=0)


def window_grain(horizon_s: int) -> int:
    """The tile grain a window of `horizon_s` reads: the coarsest with at least MIN_TILES_PER_WINDOW
    tiles in the window (the finest for short windows)."""
    fitting = [g for g in GRAINS_S if horizon_s >= MIN_TILES_PER_WINDOW * g]
    return max(fitting, default=GRAINS_S[0])


@dataclass
class CardState:
    """One card's tiles by (grain, start), as far back as a feature reads them."""

    tiles: dict[TileKey, Tile] = field(default_factory=dict)

    @property
    def swipes(self) -> int:
        return sum(t.count for (g, _), t in self.tiles.items() if g == GRAINS_S[-1])

    def put(self, tile: Tile) -> None:
        """Replace a tile with a newer value of it (a record from `card-tiles`)."""
        self.tiles[(tile.grain_s, tile.start_s)] = tile

    def newest(self) -> Tile | None:
        """The tile holding the card's newest swipe, by (time, swipe id)."""
        return max(
            (t for t in self.tiles.values() if t.last is not None),
            key=lambda t: (t.last[0], t.last[1]),  # type: ignore[index]
            default=None,
        )

    def trim(self, config: FeatureConfig) -> None:
        """Drop the tiles no feature reads any more, behind the card's newest swipe."""
        newest = self.newest()
        if newest is None:
            return
        now_s = newest.last_us // _US
        keep = {g: config.tile_retention_s(g) for g in GRAINS_S}
        for key in [k for k, t in self.tiles.items() if t.end_s <= now_s - keep[t.grain_s]]:
            del self.tiles[key]


def fold(state: CardState, swipes: Iterable[Swipe], config: FeatureConfig) -> CardState:
    """Add swipes to the card's tiles (in any order: tiles are order-free), then trim. Mutates `state`."""
    for s in swipes:
        add_swipe(state.tiles, s)
    state.trim(config)
    return state


def features(card_token: str, state: CardState, config: FeatureConfig, computed_at: datetime) -> CardFeatures:
    """The card's features as of its newest swipe, merged from its tiles."""
    newest = state.newest()
    if newest is None or newest.last is None:
        raise ValueError("no swipe folded yet: a card without swipes has no features")
    as_of_us, last_id, last_country, last_lat, last_lon = newest.last
    as_of_s = as_of_us / _US
    return CardFeatures(
        card_token=card_token,
        as_of=datetime.fromtimestamp(as_of_us // _US, UTC).replace(microsecond=as_of_us % _US),
        computed_at=computed_at,
        last_swipe_id=last_id,
        last_country=last_country,
        last_lat=last_lat,
        last_lon=last_lon,
        windows=[_window(state, h, as_of_s) for h in config.horizons_s],
        session=_session(state, config.session_gap_s, as_of_us),
        profile=_profile(state, as_of_s, config.profile_s),
    )


def _grain(state: CardState, grain_s: int) -> list[Tile]:
    return sorted((t for (g, _), t in state.tiles.items() if g == grain_s), key=lambda t: t.start_s)


def _window(state: CardState, horizon_s: int, as_of_s: float) -> WindowFeatures:
    inside = [t for t in _grain(state, window_grain(horizon_s)) if t.end_s > as_of_s - horizon_s]
    count = sum(t.count for t in inside)
    amount = sum(t.amount_sum for t in inside)
    return WindowFeatures(
        horizon_s=horizon_s,
        count=count,
        amount_sum=round(amount, 6),
        amount_max=max((t.amount_max for t in inside), default=0.0),
        amount_mean=round(amount / count, 6) if count else 0.0,
        merchants=len({s[0] for t in inside for s in t.seen}),
        countries=len({s[1] for t in inside for s in t.seen}),
        denied=sum(t.denied for t in inside),
    )


def _session(state: CardState, gap_s: int, as_of_us: int) -> SessionFeatures:
    minutes = [t for t in _grain(state, GRAINS_S[0]) if t.count and t.first_us <= as_of_us]
    if not minutes or minutes[-1].last_us < as_of_us - gap_s * _US:
        # The newest swipe's minute tile is not here (yet): a reader of card-tiles may get a card's
        # day tile before its minute tile. Nothing is known of the live session but its start.
        start_at = datetime.fromtimestamp(as_of_us // _US, UTC).replace(microsecond=as_of_us % _US)
        return SessionFeatures(start=start_at, swipes=0, amount=0.0, duration_s=0.0, merchants=0, countries=0)
    start = len(minutes) - 1
    while start > 0 and minutes[start].first_us - minutes[start - 1].last_us <= gap_s * _US:
        start -= 1
    session = minutes[start:]
    first_us, last_us = session[0].first_us, session[-1].last_us
    return SessionFeatures(
        start=datetime.fromtimestamp(first_us // _US, UTC).replace(microsecond=first_us % _US),
        swipes=sum(t.count for t in session),
        amount=round(sum(t.amount_sum for t in session), 6),
        duration_s=(last_us - first_us) / _US,
        merchants=len({s[0] for t in session for s in t.seen}),
        countries=len({s[1] for t in session for s in t.seen}),
    )


def _recent(state: CardState, days: list[Tile], part: int, limit: int) -> list[str]:
    """Distinct values of one part of `seen` in the profile's day tiles, most recent last.

    A value's recency is the latest start (first swipe) of a tile holding it: the finest tiles
    still held (minutes for the last hours) order recent values to the minute, older ones by day.
    """
    values: set[str] = {v for t in days for s in t.seen if (v := s[part]) is not None}
    when: dict[str, int] = {}
    for t in state.tiles.values():
        for s in t.seen:
            value = s[part]
            if value is not None and value in values:
                when[value] = max(when.get(value, 0), t.first_us)
    return sorted(values, key=lambda v: (when[v], v))[-limit:]


def _profile(state: CardState, as_of_s: float, profile_s: int) -> CardProfile:
    days = [t for t in _grain(state, GRAINS_S[-1]) if t.end_s > as_of_s - profile_s]
    n = sum(t.count for t in days)
    log_sum = sum(t.log_amount_sum for t in days)
    log_sq = sum(t.log_amount_sq for t in days)
    mean = log_sum / n if n else 0.0
    std = math.sqrt(max(0.0, (log_sq - n * mean * mean) / (n - 1))) if n > 1 else 0.0
    located = sum(t.located for t in days)
    home = None
    if located:
        x, y, z = (sum(getattr(t, c) for t in days) / located for c in ("home_x", "home_y", "home_z"))
        home = home_of(x, y, z)
    hours = [sum(t.hours[h] for t in days) for h in range(24)]
    return CardProfile(
        swipes=n,
        log_amount_mean=round(mean, 9),
        log_amount_std=round(std, 9),
        ecom_share=round(sum(t.ecom for t in days) / n, 9) if n else 0.0,
        hour_histogram=hours,
        countries=_recent(state, days, 1, MAX_PROFILE_COUNTRIES),
        merchants=_recent(state, days, 0, MAX_PROFILE_MERCHANTS),
        mccs=_recent(state, days, 2, MAX_PROFILE_MCCS),
        home_lat=round(home[0], 6) if home else None,
        home_lon=round(home[1], 6) if home else None,
        home_spread_km=round(home[2], 6) if home else None,
        located_swipes=located,
        places=_recent(state, days, 3, MAX_PROFILE_PLACES),
    )
