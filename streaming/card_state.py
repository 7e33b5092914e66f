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
hour of day, countries, merchants, MCCs, places, home) merges every day of the card: the day tiles
still held and `CardHistory`, into which a day tile rolls once no window reads it (the hour of day
comes from the hour tiles the same way: an hour tile's swipes are all of one hour). So a card holds
a few tiles and one history, however long it has been swiping.

The scorer merges a card every time one of its tiles arrives, so `features` is written for speed:
its records are built without validating values it computed itself from validated tiles
(`streaming.schema.unvalidated`; tests/unit/streaming/test_card_state.py holds them to what
validation builds, to the byte), and what a config implies is worked out once per config
(`fraudstream-bench merge` measures it, docs/benchmarks.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from foundation.card_tokens import CARD_TOKEN_PATTERN
from foundation.geometry import home_of, home_vector
from foundation.settings import DEFAULT_HORIZONS_S, DEFAULT_SESSION_GAP_S
from streaming.card_days import (
    ProfileSums,
    SettledDays,
    WindowSums,
    add_day,
    recent_with,
    window_totals,
    window_with,
)
from streaming.schema import CardFeatures, CardProfile, SessionFeatures, Swipe, WindowFeatures, unvalidated
from streaming.tiles import GRAINS_S, Tile, TileKey, add_inputs, add_swipe

MAX_PROFILE_COUNTRIES = 16
MAX_PROFILE_MERCHANTS = 32
MAX_PROFILE_MCCS = 16
MAX_PROFILE_PLACES = 16
MIN_TILES_PER_WINDOW = 6
_US = 1_000_000
_CARD_TOKEN = re.compile(CARD_TOKEN_PATTERN)


@dataclass(frozen=True)
class FeatureConfig:
    """Window horizons, session gap and how long tiles are held, in seconds."""

    # 10 min and 1 h catch bursts; 1, 7 and 30 days are the card's habits, the inputs a file with only
    # card, merchant, amount and time still has. 7 d and 30 d read day tiles, so they cost ~30 tiles.
    horizons_s: tuple[int, ...] = DEFAULT_HORIZONS_S
    session_gap_s: int = DEFAULT_SESSION_GAP_S
    # how far back minute tiles are kept for the live session: a session longer than this is cut
    session_span_s: int = 4 * 3600
    # A tile is final once the job's watermark passed its end. A reader cannot see the watermark,
    # so it rolls a day tile into the card's history (and drops other tiles) only this long after
    # the tile's end behind the card's newest swipe; StreamSettings refuses a longer watermark.
    final_after_s: int = 3600

    @property
    def retention_s(self) -> int:
        """The longest look-back of any feature: older swipes change nothing."""
        return max(self.tile_retention_s(g) for g in GRAINS_S)

    def tile_retention_s(self, grain_s: int) -> int:
        """How long after a tile ends, behind the card's newest swipe, a feature still reads it."""
        needed = [h for h in self.horizons_s if window_grain(h) == grain_s]
        if grain_s == GRAINS_S[0]:
            needed.append(self.session_span_s)
        return max(needed, default=0) + self.final_after_s

    # Worked out once per config (a frozen dataclass: cached_property writes past its __setattr__),
    # not on every merge of every card.
    @cached_property
    def window_grains(self) -> tuple[tuple[int, int], ...]:
        """(horizon, the grain its window reads), per horizon in order."""
        return tuple((h, window_grain(h)) for h in self.horizons_s)

    @cached_property
    def tile_retentions_s(self) -> dict[int, int]:
        """`tile_retention_s` of every grain."""
        return {g: self.tile_retention_s(g) for g in GRAINS_S}


def window_grain(horizon_s: int) -> int:
    """The tile grain a window of `horizon_s` reads: the coarsest with at least MIN_TILES_PER_WINDOW
    tiles in the window (the finest for short windows)."""
    fitting = [g for g in GRAINS_S if horizon_s >= MIN_TILES_PER_WINDOW * g]
    return max(fitting, default=GRAINS_S[0])


# the parts of a tile's `seen` the profile lists, with their bounds: merchant, country, MCC, place
PROFILE_PARTS = (
    (0, MAX_PROFILE_MERCHANTS),
    (1, MAX_PROFILE_COUNTRIES),
    (2, MAX_PROFILE_MCCS),
    (3, MAX_PROFILE_PLACES),
)


@dataclass
class CardHistory:
    """The card's day tiles that no window reads any more, rolled up: the long past of its profile.

    Sums add up exactly; of the values seen, each part keeps its most recent ones (by the start of
    the latest day holding them), as many as the profile lists, so the profile merged from the
    history and the held day tiles is the profile of every day tile.
    """

    # per grain, the end of the newest tile rolled in: a tile of that grain ending by then is in here
    until_s: dict[int, int] = field(default_factory=dict)
    count: int = 0
    log_amount_sum: float = 0.0
    log_amount_sq: float = 0.0
    ecom: int = 0
    located: int = 0
    home_x: float = 0.0
    home_y: float = 0.0
    home_z: float = 0.0
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    recent: list[dict[str, int]] = field(default_factory=lambda: [{} for _ in PROFILE_PARTS])
    version: int = field(default=0, compare=False)  # one more per day rolled in (SettledDays.holds)

    def absorb(self, tile: Tile) -> None:
        """Roll a tile no window reads any more in: an hour tile's swipes go to the hour of day, a
        day tile's to everything else; minute tiles add nothing (their hours and days hold them)."""
        self.until_s[tile.grain_s] = max(self.until_s.get(tile.grain_s, 0), tile.end_s)
        if tile.grain_s == GRAINS_S[1]:
            self.hours[tile.hour_of_day] += tile.count
        if tile.grain_s != GRAINS_S[-1]:
            return
        self.version += 1
        day = tile
        add_day(self, day)
        for (part, limit), held in zip(PROFILE_PARTS, self.recent, strict=True):
            for seen in day.seen:
                value = seen[part]
                if value is not None:
                    held[value] = max(held.get(value, 0), day.start_s)
            if len(held) > limit:
                for value in sorted(held, key=lambda v: (held[v], v))[: len(held) - limit]:
                    del held[value]


@dataclass
class CardState:
    """One card's tiles by (grain, start), as far back as a window reads them, and its history."""

    tiles: dict[TileKey, Tile] = field(default_factory=dict)
    history: CardHistory = field(default_factory=CardHistory)
    # the sums of its settled days from the last merge (`streaming.card_days`): a cache, not state;
    # kept from a card's second merge on (a replica catching up merges most cards once)
    settled: SettledDays | None = field(default=None, repr=False, compare=False)
    merged: bool = field(default=False, repr=False, compare=False)
    # What `put` keeps track of, so a merge need not walk every tile twice: the newest tile (None:
    # walk them) and when the first tile ages out (`trim` does nothing before; 0: walk them). Both
    # hold while the tiles change through `put`, `trim` and `fold`; a tile dropped from `tiles`
    # directly (a tombstone) only makes the newest a miss (checked) and the trim time early.
    _newest: Tile | None = field(default=None, init=False, repr=False, compare=False)
    _trim_at_s: int = field(default=0, init=False, repr=False, compare=False)
    _keep: dict[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def put(self, tile: Tile) -> bool:
        """Keep a value of a tile read from `card-tiles` if it is newer than the one held (more
        swipes, or a newer one); an older value (a replayed batch, a backfill behind the stream) and
        a tile the history already holds are ignored. True when kept."""
        if tile.end_s <= self.history.until_s.get(tile.grain_s, 0):
            return False
        key = (tile.grain_s, tile.start_s)
        held = self.tiles.get(key)
        if held is not None and (held.count, held.last_us) > (tile.count, tile.last_us):
            return False
        self.tiles[key] = tile
        newest, last = self._newest, tile.last
        if newest is not None and last is not None and newest.last is not None:
            if (last[0], last[1]) > (newest.last[0], newest.last[1]):
                self._newest = tile
            elif newest is held:  # a newer value of the newest tile that holds an older swipe
                self._newest = None
        if self._keep is not None:
            self._trim_at_s = min(self._trim_at_s, tile.end_s + self._keep[tile.grain_s])
        return True

    def newest(self) -> Tile | None:
        """The tile holding the card's newest swipe, by (time, swipe id)."""
        held = self._newest
        if held is not None and self.tiles.get((held.grain_s, held.start_s)) is held:
            return held
        best: Tile | None = None
        best_at: tuple[int, str] = (0, "")
        for t in self.tiles.values():
            last = t.last
            # strictly newer: of equal ones the first is kept, as max() keeps it
            if last is not None and (best is None or (last[0], last[1]) > best_at):
                best, best_at = t, (last[0], last[1])
        self._newest = best
        return best

    def trim(self, config: FeatureConfig) -> Tile | None:
        """Drop the tiles no window reads any more, behind the card's newest swipe, rolling them into
        the history first (the profile reads every day, and its hour of day every hour tile).
        Returns the newest tile (trimming never drops it), for `features`."""
        newest = self.newest()
        if newest is None:
            return None
        now_s = newest.last_us // _US
        keep = config.tile_retentions_s
        if keep is self._keep and now_s < self._trim_at_s:
            return newest
        done = [
            (t.start_s, k) for k, t in self.tiles.items() if t.start_s + t.grain_s <= now_s - keep[t.grain_s]
        ]
        for _, key in sorted(done):
            self.history.absorb(self.tiles.pop(key))
        self._keep = keep
        self._trim_at_s = min(
            (t.start_s + t.grain_s + keep[t.grain_s] for t in self.tiles.values()), default=0
        )
        return newest


def fold(state: CardState, swipes: Iterable[Swipe], config: FeatureConfig) -> CardState:
    """Add swipes to the card's tiles (in any order: tiles are order-free), then trim. Mutates `state`."""
    for s in swipes:
        add_swipe(state.tiles, s)
    state._newest, state._trim_at_s = None, 0  # the tiles changed in place: walk them
    state.trim(config)
    return state


def features(
    card_token: str,
    state: CardState,
    config: FeatureConfig,
    computed_at: datetime,
    newest: Tile | None = None,
    *,
    reuse: bool = True,
) -> CardFeatures:
    """The card's features as of its newest swipe, merged from its tiles. `newest`: the state's
    newest tile when the caller has it already (what `CardState.trim` returns). `reuse`: take the
    settled days' sums from the last merge (`streaming.card_days`); False sums every tile afresh,
    the reference the tests hold the sums to."""
    newest = newest or state.newest()
    if newest is None or newest.last is None:
        raise ValueError("no swipe folded yet: a card without swipes has no features")
    # The records below are built unvalidated (`streaming.schema.unvalidated`): every value is
    # computed here from validated tiles, of its field's type; the token and the clock come from
    # the caller, so they are checked here.
    if not isinstance(card_token, str) or _CARD_TOKEN.fullmatch(card_token) is None:
        raise ValueError(f"not a card token: {card_token!r} (expected {CARD_TOKEN_PATTERN})")
    if not isinstance(computed_at, datetime):
        raise ValueError(f"computed_at must be a datetime, got {computed_at!r}")
    as_of_us, last_id, last_country, last_lat, last_lon = newest.last
    as_of_s = as_of_us / _US
    grains: dict[int, list[Tile]] = {g: [] for g in GRAINS_S}
    tiles = state.tiles
    for key in sorted(tiles):
        grains[key[0]].append(tiles[key])
    days = grains[GRAINS_S[-1]]
    settled = _settled(state, days) if reuse else None
    live = days[len(settled.tiles) :] if settled is not None else []
    windows = []
    for h, g in config.window_grains:
        if settled is not None and g == GRAINS_S[-1]:
            edge = as_of_s - h
            inside = [t for t in live if t.start_s + t.grain_s > edge]
            sums = window_with(settled, settled.window(h, edge), inside)
        else:
            sums = _window_sums(grains[g], h, as_of_s)
        windows.append(_window(h, sums))
    return unvalidated(
        CardFeatures,
        card_token=card_token,
        as_of=datetime.fromtimestamp(as_of_us // _US, UTC).replace(microsecond=as_of_us % _US),
        computed_at=computed_at,
        last_swipe_id=last_id,
        last_country=last_country,
        last_lat=last_lat,
        last_lon=last_lon,
        windows=windows,
        session=_session(grains[GRAINS_S[0]], config.session_gap_s, as_of_us),
        profile=_profile(state.history, days, grains[GRAINS_S[1]], settled, live),
    )


def _settled(state: CardState, days: list[Tile]) -> SettledDays | None:
    """The sums of the card's day tiles but its newest: kept from the last merge while they hold."""
    if not days or days[0].start_s < 0:
        return None
    held = state.settled
    if held is not None and held.holds(days, state.history):
        return held
    if not state.merged:
        state.merged = True
        return None
    done = days[:-1]
    sums = ProfileSums()
    for t in done:
        sums.add(t)
    orders, whens = _recent_order(state.history, done)
    state.settled = SettledDays(
        tiles=done,
        counts=[t.count for t in done],
        history=state.history,
        history_version=state.history.version,
        profile=sums,
        recent=orders,
        whens=whens[:2],  # merchants and countries: the parts the windows count
        top_s=max((w[-1] for w in whens if w), default=0),
    )
    return state.settled


def profile_with(profile: CardProfile | None, swipes: Iterable[dict[str, Any]]) -> CardProfile:
    """`profile` (None: a card with no swipes yet) with more swipes, given as their tile inputs
    (`streaming.tiles.inputs_of`): the fold's own profile step, for the scorer's lag cover."""
    tiles: dict[TileKey, Tile] = {}
    for inputs in swipes:
        add_inputs(tiles, inputs, (GRAINS_S[1], GRAINS_S[-1]))
    ordered = [t for _, t in sorted(tiles.items())]
    past = history_of(profile) if profile is not None else CardHistory()
    days = [t for t in ordered if t.grain_s == GRAINS_S[-1]]
    return _profile(past, days, [t for t in ordered if t.grain_s == GRAINS_S[1]])


def history_of(profile: CardProfile) -> CardHistory:
    """A history whose profile is `profile`: its sums back from the means, its lists in their order."""
    n = profile.swipes
    mean = profile.log_amount_mean
    history = CardHistory(
        count=n,
        log_amount_sum=mean * n,
        log_amount_sq=profile.log_amount_std**2 * max(n - 1, 0) + n * mean * mean,
        ecom=round(profile.ecom_share * n),
        located=profile.located_swipes,
        hours=list(profile.hour_histogram),
    )
    if profile.located_swipes and profile.home_lat is not None and profile.home_lon is not None:
        x, y, z = home_vector(profile.home_lat, profile.home_lon, profile.home_spread_km or 0.0)
        k = profile.located_swipes
        history.home_x, history.home_y, history.home_z = x * k, y * k, z * k
    lists = (profile.merchants, profile.countries, profile.mccs, profile.places)
    # The lists are most recent last: their positions keep that order below any real day's start.
    history.recent = [{value: i for i, value in enumerate(values)} for values in lists]
    return history


def _window_sums(tiles: list[Tile], horizon_s: int, as_of_s: float) -> WindowSums:
    """Tiles of the window's grain, by start."""
    edge = as_of_s - horizon_s
    return window_totals([t for t in tiles if t.start_s + t.grain_s > edge])


def _window(horizon_s: int, sums: WindowSums) -> WindowFeatures:
    count, amount, amount_max, merchants, countries, denied = sums
    return unvalidated(
        WindowFeatures,
        horizon_s=horizon_s,
        count=count,
        amount_sum=float(round(amount, 6)),  # no tiles: sum() gives the int 0
        amount_max=amount_max,
        amount_mean=round(amount / count, 6) if count else 0.0,
        merchants=merchants,
        countries=countries,
        denied=denied,
    )


def _session(minute_tiles: list[Tile], gap_s: int, as_of_us: int) -> SessionFeatures:
    minutes = [t for t in minute_tiles if t.count and t.first_us <= as_of_us]
    if not minutes or minutes[-1].last_us < as_of_us - gap_s * _US:
        # The newest swipe's minute tile is not here (yet): a reader of card-tiles may get a card's
        # day tile before its minute tile. Nothing is known of the live session but its start.
        start_at = datetime.fromtimestamp(as_of_us // _US, UTC).replace(microsecond=as_of_us % _US)
        return unvalidated(
            SessionFeatures, start=start_at, swipes=0, amount=0.0, duration_s=0.0, merchants=0, countries=0
        )
    start = len(minutes) - 1
    while start > 0 and minutes[start].first_us - minutes[start - 1].last_us <= gap_s * _US:
        start -= 1
    session = minutes[start:]
    first_us, last_us = session[0].first_us, session[-1].last_us
    return unvalidated(
        SessionFeatures,
        start=datetime.fromtimestamp(first_us // _US, UTC).replace(microsecond=first_us % _US),
        swipes=sum([t.count for t in session]),
        amount=float(round(sum([t.amount_sum for t in session]), 6)),
        duration_s=(last_us - first_us) / _US,
        merchants=len({s[0] for t in session for s in t.seen}),
        countries=len({s[1] for t in session for s in t.seen}),
    )


def _recent(past: CardHistory, days: list[Tile]) -> list[list[str]]:
    """Per part of `seen` (`PROFILE_PARTS`), its distinct values over the card's days, most recent
    last: by the latest day holding each, then by value (a day's values have no order between them),
    as many as the profile lists."""
    orders, _ = _recent_order(past, days)
    return [order[-limit:] for order, (_, limit) in zip(orders, PROFILE_PARTS, strict=True)]


def _recent_order(past: CardHistory, days: list[Tile]) -> tuple[list[list[str]], list[list[int]]]:
    """`_recent`'s lists unbounded, and beside each value the start of the latest day holding it.

    `days` come by start, so a later day's start simply replaces an earlier one's.
    """
    latest: list[dict[Any, int]] = [{}, {}, {}, {}]  # one per part of `seen`, in its order
    merchants, countries, mccs, places = latest
    for t in days:
        start = t.start_s
        for merchant, country, mcc, place in t.seen:
            merchants[merchant] = countries[country] = mccs[mcc] = places[place] = start
    out = []
    whens = []
    for (part, _), from_days in zip(PROFILE_PARTS, latest, strict=True):
        from_days.pop(None, None)  # an online swipe has no place
        held = past.recent[part]
        when: dict[str, int] = from_days
        if held or (days and days[0].start_s < 0):  # max(): as late as the history, never before 0
            when = dict(held)
            for value, start in from_days.items():
                when[value] = max(held.get(value, 0), start)
        order = sorted(when)
        order.sort(key=when.__getitem__)  # stable: by day, then by value
        out.append(order)
        whens.append([when[v] for v in order])
    return out, whens


_PROFILE_LIMITS = [limit for _, limit in PROFILE_PARTS]


def _profile(
    past: CardHistory,
    days: list[Tile],
    hour_tiles: list[Tile],
    settled: SettledDays | None = None,
    live: list[Tile] | None = None,
) -> CardProfile:
    """The profile over the history and `days`; with `settled`, of its sums and the `live` days."""
    if settled is not None:
        sums = settled.profile.plus(live or [])
    else:
        sums = ProfileSums()
        for t in days:
            sums.add(t)
    n = past.count + sums.count
    log_sum = past.log_amount_sum + sums.log_amount_sum
    log_sq = past.log_amount_sq + sums.log_amount_sq
    mean = log_sum / n if n else 0.0
    std = math.sqrt(max(0.0, (log_sq - n * mean * mean) / (n - 1))) if n > 1 else 0.0
    located = past.located + sums.located
    home = None
    if located:
        home = home_of(
            (past.home_x + sums.home_x) / located,
            (past.home_y + sums.home_y) / located,
            (past.home_z + sums.home_z) / located,
        )
    hours = list(past.hours)
    for t in hour_tiles:
        hours[(t.start_s // 3600) % 24] += t.count  # Tile.hour_of_day
    lists = None
    if settled is not None:
        lists = recent_with(settled, live or [], _PROFILE_LIMITS)
    if lists is None:
        lists = _recent(past, days)
    return unvalidated(
        CardProfile,
        swipes=n,
        log_amount_mean=float(round(mean, 9)),
        log_amount_std=float(round(std, 9)),
        ecom_share=round((past.ecom + sums.ecom) / n, 9) if n else 0.0,
        hour_histogram=hours,
        countries=lists[1],
        merchants=lists[0],
        mccs=lists[2],
        home_lat=round(home[0], 6) if home else None,
        home_lon=round(home[1], 6) if home else None,
        home_spread_km=round(home[2], 6) if home else None,
        located_swipes=located,
        places=lists[3],
    )
