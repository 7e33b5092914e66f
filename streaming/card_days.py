"""A card's settled day tiles, summed once and kept between merges.

Every swipe changes the card's newest day tile, and nothing else of its days: the older day tiles
change only when a late swipe reaches one, and the history when a day rolls into it. Yet the
profile and the day-grain windows (7 and 30 days) read every day tile, so a merge summed ~30 day
tiles again each time one of the card's tiles arrived. `SettledDays` keeps those sums for every day
tile but the newest (the settled days) and the merge adds the newest on top:

    day tiles   | d1 | d2 | ... | d29 | d30 |      d30: today's tile, changed by every swipe
    settled       d1 ................ d29          summed once, kept while none of them changes
    live                                  d30       added on top at every merge

Each sum continues the same left-to-right fold the merge over all day tiles does (floats are added
in the same order), so a merge with the settled sums is the merge without them, to the byte
(tests/unit/streaming/test_card_days.py). A window of horizon H reads the settled tiles from the
first whose end is past the window's edge: that index changes once a day, so each day window keeps
its sums for one index. `holds` checks, by identity and swipe count, that the settled tiles and the
history are still the ones summed: a tile replaced (a newer value read from `card-tiles`), a swipe
folded into one, a tile dropped or a day rolled into the history all make the sums stale, and the
merge sums afresh. No I/O here.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Protocol

from streaming.tiles import Tile

MAX_LIVE_DAYS = 2  # more days after the settled ones (a day begins, a backfill): sum afresh


@dataclass(slots=True)
class DaySums:
    """A day window's sums over the settled tiles from `first` on (those starting at `since_s` or
    later), in their order; `merchants` and `countries` count its distinct values."""

    first: int = 0
    since_s: float = 0.0
    count: int = 0
    amount: float | int = 0  # sum([]) is the int 0, and a window of no tiles says so
    amount_max: float | None = None
    denied: int = 0
    merchants: int = 0
    countries: int = 0


WindowSums = tuple[int, float | int, float, int, int, int]  # count, amount, max, merchants, countries, denied


def window_totals(tiles: list[Tile]) -> WindowSums:
    """A window's figures over these tiles (those inside it, by start): the amount summed as `sum`
    adds (the int 0 for none), the max 0.0 for none, merchants and countries counted distinct."""
    return (
        sum([t.count for t in tiles]),
        sum([t.amount_sum for t in tiles]),
        max([t.amount_max for t in tiles], default=0.0),
        len({s[0] for t in tiles for s in t.seen}),
        len({s[1] for t in tiles for s in t.seen}),
        sum([t.denied for t in tiles]),
    )


def window_sums(tiles: list[Tile], first: int = 0) -> DaySums:
    """`window_totals` of `tiles[first:]`, kept for the live tiles to be added after them."""
    inside = tiles[first:]
    count, amount, amount_max, merchants, countries, denied = window_totals(inside)
    return DaySums(
        first=first,
        since_s=inside[0].start_s if inside else float("inf"),
        count=count,
        amount=amount,
        amount_max=amount_max if inside else None,
        denied=denied,
        merchants=merchants,
        countries=countries,
    )


class Sums(Protocol):
    """The profile's sums, as `ProfileSums` and a card's history hold them."""

    count: int
    log_amount_sum: float
    log_amount_sq: float
    ecom: int
    located: int
    home_x: float
    home_y: float
    home_z: float


def add_day(into: Sums, t: Tile) -> None:
    """Add a day tile's profile sums to `into`, field by field."""
    into.count += t.count
    into.log_amount_sum += t.log_amount_sum
    into.log_amount_sq += t.log_amount_sq
    into.ecom += t.ecom
    into.located += t.located
    into.home_x += t.home_x
    into.home_y += t.home_y
    into.home_z += t.home_z


@dataclass(slots=True)
class ProfileSums:
    """The profile's sums over day tiles (each from 0, in the tiles' order), less the history."""

    # the int 0 to start from, as `sum` does: a float field of no tiles stays the int 0
    count: int = 0
    log_amount_sum: float = 0
    log_amount_sq: float = 0
    ecom: int = 0
    located: int = 0
    home_x: float = 0
    home_y: float = 0
    home_z: float = 0

    def add(self, t: Tile) -> None:
        add_day(self, t)

    def plus(self, tiles: list[Tile]) -> ProfileSums:
        out = ProfileSums(
            self.count,
            self.log_amount_sum,
            self.log_amount_sq,
            self.ecom,
            self.located,
            self.home_x,
            self.home_y,
            self.home_z,
        )
        for t in tiles:
            out.add(t)
        return out


@dataclass(slots=True)
class SettledDays:
    """Sums of a card's day tiles but its newest, and of its history's recent values with them.

    `recent[part]` lists the part's distinct values over the history and the settled days, least
    recent first (by the latest day holding each, then by value), unbounded, and `whens[part]` that
    latest day's start beside each (for merchants and countries, what the windows need); `top_s` is
    the latest of them. The merge adds the live days' values after them, so it needs every live day
    to start after `top_s` (`recent_with` says when it does not). A value is in a day window's
    settled tiles when its latest day is: `whens` answers which are, without a set per window.
    """

    tiles: list[Tile]
    counts: list[int]
    history: Any  # streaming.card_state.CardHistory (that module builds this one)
    history_version: int
    profile: ProfileSums
    recent: list[list[str]]
    whens: list[list[int]]
    top_s: int
    windows: dict[int, DaySums] = field(default_factory=dict)

    def holds(self, days: list[Tile], history: Any) -> bool:
        """True while `days` (by start) begins with the very settled tiles, each with the swipes
        summed, followed by at most MAX_LIVE_DAYS more, and the history is the one summed."""
        n = len(self.tiles)
        if history is not self.history or history.version != self.history_version:
            return False
        if not n < len(days) <= n + MAX_LIVE_DAYS:
            return False
        for held, now, count in zip(self.tiles, days, self.counts, strict=False):
            if held is not now or now.count != count:
                return False
        return True

    def window(self, horizon_s: int, edge_s: float) -> DaySums:
        """The settled tiles' sums for a window whose far edge is `edge_s`: tiles ending after it."""
        first = bisect_right(self.tiles, edge_s, key=_end_s)
        sums = self.windows.get(horizon_s)
        if sums is None or sums.first != first:
            sums = self.windows[horizon_s] = window_sums(self.tiles, first)
        return sums

    def new_values(self, part: int, since_s: float, values: set[str]) -> int:
        """How many of `values` the settled tiles from `since_s` on do not hold."""
        order, whens = self.recent[part], self.whens[part]
        new = 0
        for value in values:
            try:
                at = order.index(value)
            except ValueError:
                new += 1
                continue
            new += whens[at] < since_s
        return new


def _end_s(tile: Tile) -> int:
    return tile.start_s + tile.grain_s


def window_with(days: SettledDays, settled: DaySums, live: list[Tile]) -> WindowSums:
    """A day window's figures: the settled sums with its live tiles added after them, in the same
    fold; merchants and countries counted distinct over both."""
    amount = settled.amount
    for t in live:
        amount += t.amount_sum
    maxes = [t.amount_max for t in live]
    if settled.amount_max is not None:
        maxes.insert(0, settled.amount_max)
    since = settled.since_s
    return (
        settled.count + sum([t.count for t in live]),
        amount,
        max(maxes, default=0.0),
        settled.merchants + days.new_values(0, since, {s[0] for t in live for s in t.seen}),
        settled.countries + days.new_values(1, since, {s[1] for t in live for s in t.seen}),
        settled.denied + sum([t.denied for t in live]),
    )


def recent_with(settled: SettledDays, live: list[Tile], limits: list[int]) -> list[list[str]] | None:
    """Per part, the settled values with the live days' after them, the last `limit` of each; None
    when a live day does not start after every settled one (sum afresh then)."""
    latest: list[dict[Any, int]] = [{}, {}, {}, {}]  # one per part of `seen`, in its order
    merchants, countries, mccs, places = latest
    for t in live:
        start = t.start_s
        if start <= settled.top_s:
            return None
        for merchant, country, mcc, place in t.seen:
            merchants[merchant] = countries[country] = mccs[mcc] = places[place] = start
    for values in latest:
        values.pop(None, None)  # an online swipe has no place
    out = []
    for order, limit, newest in zip(settled.recent, limits, latest, strict=True):
        if not newest:
            out.append(order[-limit:])
            continue
        # one live day: its values share its start, so they go by value
        newer = sorted(newest, key=lambda v: (newest[v], v)) if len(live) > 1 else sorted(newest)
        if len(newer) >= limit:
            out.append(newer[-limit:])
            continue
        # the last `limit` settled values hold the last `limit - len(newer)` of those not live
        kept = [v for v in order[-limit:] if v not in newest]
        out.append(kept[len(newer) - limit :] + newer)
    return out
