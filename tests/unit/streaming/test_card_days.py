"""The settled days' sums kept between merges: a merge with them is the merge without them, to the byte.

Each test drives one card the way a reader of its tiles does (the scorer's follower: a newer value
of a tile replaces the held one; the training fold: swipes added to the tiles in place) and, after
every step, merges it twice: reusing the sums kept from the last merge, and summing every tile
afresh (`reuse=False`, the reference).
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta

import pytest

from streaming.card_days import ProfileSums, SettledDays, recent_with, window_sums, window_with
from streaming.card_state import CardHistory, CardState, FeatureConfig, _recent_order, features, fold
from streaming.schema import Swipe, to_kafka
from streaming.tiles import GRAINS_S, Tile, TileKey, add_swipe, epoch_us, tile_start

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
TOKEN = "ct_" + "ab" * 16
DAY = GRAINS_S[-1]
CFG = FeatureConfig()  # 10 min, 1 h, 24 h, 7 d and 30 d: two windows of day tiles


def swipe(i: int, at: datetime, rng: random.Random) -> Swipe:
    located = rng.random() < 0.7
    return Swipe(
        swipe_id=f"s{i:05d}",
        card_token=TOKEN,
        amount=round(rng.uniform(1, 400), 2),
        currency="EUR",
        merchant_id=f"m{rng.randrange(40)}",
        mcc=rng.choice(["5411", "5812", "5999", "4111"]),
        country=rng.choice(["FR", "FR", "FR", "DE", "ES", "IT"]),
        channel=rng.choice(["pos", "pos", "ecom"]),
        event_time=at,
        lat=48.8 + rng.uniform(-1, 1) if located else None,
        lon=2.3 + rng.uniform(-1, 1) if located else None,
        decision="deny" if rng.random() < 0.1 else "approve",
    )


def swipes(seed: int, days: int, late_share: float) -> list[Swipe]:
    """A card's swipes over `days`, a few a day, some of them arriving late (hours to days)."""
    rng = random.Random(seed)
    out: list[Swipe] = []
    at = T0
    for i in range(days * 4):
        at += timedelta(minutes=rng.choice([3, 40, 180, 600]))
        when = at - timedelta(hours=rng.choice([2, 30, 70])) if rng.random() < late_share else at
        out.append(swipe(i, when, rng))
    return out


def both(state: CardState, newest: Tile | None = None) -> tuple[bytes, bytes]:
    reused = to_kafka(features(TOKEN, state, CFG, computed_at=T0, newest=newest))
    afresh = to_kafka(features(TOKEN, copy.deepcopy(state), CFG, computed_at=T0, reuse=False))
    return reused, afresh


@pytest.mark.parametrize(
    ("seed", "days", "late_share"),
    [(1, 45, 0.0), (2, 45, 0.1), (3, 12, 0.3), (4, 70, 0.05)],
)
def test_the_follower_merge_with_kept_sums_is_the_merge_afresh(
    seed: int, days: int, late_share: float
) -> None:
    state = CardState()
    job: dict[TileKey, Tile] = {}  # the job's tiles: it publishes each one a swipe changes
    reuses = 0
    for s in swipes(seed, days, late_share):
        add_swipe(job, s)
        for g in GRAINS_S:
            key = (g, tile_start(epoch_us(s.event_time), g))
            state.put(copy.deepcopy(job[key]))  # refused when the history holds it already
        kept = state.settled
        newest = state.trim(CFG)
        reused, afresh = both(state, newest)
        assert reused == afresh
        reuses += kept is not None and state.settled is kept
    assert reuses > days  # the sums were kept across most merges, not summed afresh every time


def test_the_training_fold_mutating_tiles_in_place_is_merged_afresh_where_it_must() -> None:
    state = CardState()
    for s in swipes(5, 40, 0.2):
        fold(state, [s], CFG)
        reused, afresh = both(state)
        assert reused == afresh


def test_a_dropped_day_tile_is_not_summed_from_the_kept_sums() -> None:
    state = fold(CardState(), swipes(6, 20, 0.0), CFG)
    both(state)  # a card's first merge sums afresh
    both(state)  # its second keeps the settled sums
    settled = state.settled
    assert settled is not None and len(settled.tiles) > 3
    state.tiles.pop((DAY, settled.tiles[2].start_s))  # a tombstone read from card-tiles
    reused, afresh = both(state)
    assert reused == afresh
    assert state.settled is not settled


def day(start_day: int, count: int = 1, *merchants: str) -> Tile:
    return Tile(
        grain_s=DAY,
        start_s=start_day * DAY,
        count=count,
        amount_sum=10.0 * count,
        amount_max=10.0,
        seen={(m, "FR", "5411", None) for m in merchants},
        last=(start_day * DAY * 1_000_000, f"s{start_day}", "FR", None, None),
    )


def settled_of(days: list[Tile], history: object, top_s: int = 0) -> SettledDays:
    orders, whens = _recent_order(CardHistory(), days)
    return SettledDays(
        tiles=days,
        counts=[t.count for t in days],
        history=history,
        history_version=0,
        profile=ProfileSums(),
        recent=orders,
        whens=whens[:2],
        top_s=top_s,
    )


class History:
    version = 0


H = History()
D = [day(100 + i) for i in range(5)]


@pytest.mark.parametrize(
    ("days", "history", "holds"),
    [
        ([*D[:4], day(104)], H, True),  # the same settled tiles, a live one after them
        ([*D, day(105)], H, True),  # a day began: two live days
        ([*D, day(105), day(106)], H, False),  # more live days than MAX_LIVE_DAYS: sum afresh
        (D[:4], H, False),  # no live day: the newest settled one is live now
        ([copy.deepcopy(D[0]), *D[1:]], H, False),  # a settled tile replaced by a newer value
        (D, History(), False),  # another history
    ],
    ids=["one-live", "two-live", "three-live", "no-live", "replaced", "other-history"],
)
def test_when_the_kept_sums_hold(days: list[Tile], history: object, holds: bool) -> None:
    assert settled_of(D[:4], H).holds(days, history) is holds


def test_a_swipe_folded_into_a_settled_tile_or_a_day_rolled_in_makes_the_sums_stale() -> None:
    tiles = [day(100 + i) for i in range(4)]
    settled = settled_of(tiles[:3], H)
    assert settled.holds(tiles, H)
    tiles[1].count += 1
    assert not settled.holds(tiles, H)
    tiles[1].count -= 1
    H.version += 1
    try:
        assert not settled.holds(tiles, H)
    finally:
        H.version -= 1


# A day window reads the settled tiles from the first ending after its edge: that index moves once a day.
#
#   day      |100  |101  |102  |103  | 104 (live)
#   edge 101.5          ^                -> settled 101 (whole, at the far edge), 102, 103 inside
@pytest.mark.parametrize(("edge_day", "inside"), [(99.0, 4), (101.5, 3), (102.0, 2), (103.9, 1), (104.0, 0)])
def test_a_window_sums_the_settled_tiles_past_its_edge(edge_day: float, inside: int) -> None:
    tiles = [day(100 + i, i + 1, f"m{i}") for i in range(4)]
    settled = settled_of(tiles, H)
    sums = settled.window(7 * DAY, edge_day * DAY)
    assert sums == window_sums(tiles, len(tiles) - inside)
    assert sums.merchants == inside
    assert settled.window(7 * DAY, edge_day * DAY) is sums  # kept for the same index


# Merchants of the settled days (their latest day) and of the live one, counted distinct over a window:
#
#   day        100   101   102   | 103 (live)
#   merchants  a,b   b     c     | live values
@pytest.mark.parametrize(
    ("edge_day", "live", "merchants"),
    [
        (99.0, {"a", "d"}, 4),  # a settled, d new: a b c d
        (100.5, {"a"}, 3),  # a's only day 100 is inside (counted whole at the far edge): a b c
        (101.0, {"a"}, 3),  # a is outside now: b c + a
        (101.0, {"b", "c"}, 2),  # both held inside
        (102.0, {"b"}, 2),  # b's latest day 101 is outside: c + b
        (103.0, set(), 0),  # no settled tile inside, nothing live
    ],
)
def test_a_day_window_counts_its_merchants_over_the_settled_and_live_days(
    edge_day: float, live: set[str], merchants: int
) -> None:
    tiles = [day(100, 1, "a", "b"), day(101, 1, "b"), day(102, 1, "c")]
    settled = settled_of(tiles, H)
    today = day(103, 1, *live)
    inside = [today] if live else []
    _, _, _, counted, _, _ = window_with(settled, settled.window(7 * DAY, edge_day * DAY), inside)
    assert counted == merchants


@pytest.mark.parametrize(
    ("top_day", "live_days", "expected"),
    [
        (103, [104], [["a", "b", "c", "x"]]),  # live values after the settled ones, newest last
        (103, [104, 105], [["b", "c", "x", "y"]]),
        (104, [104], None),  # a live day not after every settled one: sum afresh
    ],
)
def test_recent_values_put_the_live_days_last(
    top_day: int, live_days: list[int], expected: list[list[str]] | None
) -> None:
    settled = settled_of([], H, top_s=top_day * DAY)
    settled.recent = [["a", "b", "c", "x"], ["FR"], ["5411"], []]
    live = [day(live_days[0], 1, "x"), *(day(d, 1, "y") for d in live_days[1:])]
    out = recent_with(settled, live, [4, 4, 4, 4])
    assert (out if out is None else out[:1]) == expected


def test_a_card_keeps_the_sums_from_its_second_merge_on() -> None:
    state = fold(CardState(), swipes(7, 20, 0.0), CFG)
    features(TOKEN, state, CFG, computed_at=T0)
    assert state.settled is None  # a replica catching up merges most cards once: nothing to keep
    features(TOKEN, state, CFG, computed_at=T0)
    assert state.settled is not None


@pytest.mark.parametrize(
    ("seed", "late_share", "tombstones"), [(8, 0.0, 0.0), (9, 0.2, 0.05), (10, 0.4, 0.1)]
)
def test_what_put_tracks_is_what_walking_the_tiles_finds(
    seed: int, late_share: float, tombstones: float
) -> None:
    """The newest tile and the time the first tile ages out, kept by `put`: a state that walks its
    tiles every time (nothing tracked) holds the same tiles and merges to the same record."""
    rng = random.Random(seed)
    tracked, walked = CardState(), CardState()
    job: dict[TileKey, Tile] = {}
    for s in swipes(seed, 40, late_share):
        add_swipe(job, s)
        for g in GRAINS_S:
            key = (g, tile_start(epoch_us(s.event_time), g))
            tracked.put(copy.deepcopy(job[key]))
            walked.put(copy.deepcopy(job[key]))
        if rng.random() < tombstones and len(tracked.tiles) > 1:  # a tombstone read from card-tiles
            gone = rng.choice(sorted(tracked.tiles))
            tracked.tiles.pop(gone)
            walked.tiles.pop(gone)
        walked._newest, walked._trim_at_s = None, 0
        newest = tracked.trim(CFG)
        other = walked.trim(CFG)
        assert newest is not None and other is not None and newest.last == other.last
        assert sorted(tracked.tiles) == sorted(walked.tiles)
        assert to_kafka(features(TOKEN, tracked, CFG, T0, newest)) == to_kafka(
            features(TOKEN, walked, CFG, T0)
        )
