"""Card features merged from tiles, as tables: trailing windows, sessions, profile and late swipes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from foundation.geometry import haversine_km, home_of, home_vector
from streaming.card_state import CardHistory, CardState, FeatureConfig, _profile, features, fold, window_grain
from streaming.schema import CardFeatures, Swipe, to_kafka
from streaming.tiles import GRAINS_S, Tile, tiles_of


def tiles_of_swipe(s: Swipe) -> list[Tile]:
    return list(tiles_of([s]).values())


T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TOKEN = "ct_" + "cd" * 16
CFG = FeatureConfig(horizons_s=(600, 3600), session_gap_s=900)


def sw(
    i: int, minutes: float, amount: float = 10.0, merchant: str = "m1", country: str = "FR", **kw: object
) -> Swipe:
    return Swipe(
        swipe_id=f"s{i}",
        card_token=TOKEN,
        amount=amount,
        currency="EUR",
        merchant_id=merchant,
        mcc="5411",
        country=country,
        event_time=T0 + timedelta(minutes=minutes),
        **kw,  # type: ignore[arg-type]
    )


def run(*swipes: Swipe) -> dict[str, object]:
    state = fold(CardState(), swipes, CFG)
    f = features(TOKEN, state, CFG, computed_at=T0)
    w10, w60 = f.windows
    return {
        "c10": w10.count,
        "sum10": w10.amount_sum,
        "c60": w60.count,
        "m60": w60.merchants,
        "k60": w60.countries,
        "sess": f.session.swipes,
        "sess_s": f.session.duration_s,
        "as_of_min": (f.as_of - T0).total_seconds() / 60,
    }


# Timeline (minutes after 09:00); the 10-minute window ends at the newest swipe and reads minute tiles:
#
#   0    5    10   15   20 21  ...   60   65   70
#   s1   s2                s3                   s4
#       |<-- 10m -->|s3 alone in (11, 21]; the gap 5 -> 21 (16 min) > 15 min closes the session
#   [0,1) is the tile at the far edge of (0, 10]: counted whole, so s1 counts at 10 min, not at 11
@pytest.mark.parametrize(
    ("swipes", "expected"),
    [
        ([sw(1, 0)], {"c10": 1, "sum10": 10.0, "c60": 1, "sess": 1, "sess_s": 0.0, "as_of_min": 0}),
        ([sw(1, 0), sw(2, 5, 20)], {"c10": 2, "sum10": 30.0, "c60": 2, "sess": 2, "sess_s": 300.0}),
        ([sw(1, 0), sw(2, 5), sw(3, 21)], {"c10": 1, "c60": 3, "sess": 1, "as_of_min": 21}),
        # a gap of exactly the session gap keeps the session open
        ([sw(1, 0), sw(2, 5), sw(3, 20)], {"sess": 3, "sess_s": 1200.0}),
        # exactly 10 minutes back: its minute tile overlaps the window, so it counts (edge error <= 1 tile)
        ([sw(1, 0), sw(2, 10)], {"c10": 2, "c60": 2}),
        ([sw(1, 0), sw(2, 10.5)], {"c10": 2, "c60": 2}),
        ([sw(1, 0), sw(2, 11)], {"c10": 1, "c60": 2}),
        ([sw(1, 0), sw(2, 5), sw(3, 21), sw(4, 71)], {"c10": 1, "c60": 2, "sess": 1}),
        ([sw(1, 0, merchant="a"), sw(2, 1, merchant="b", country="DE")], {"m60": 2, "k60": 2}),
    ],
)
def test_windows_and_sessions(swipes: list[Swipe], expected: dict[str, object]) -> None:
    got = run(*swipes)
    assert {k: got[k] for k in expected} == expected


def test_order_of_arrival_does_not_matter_within_a_batch() -> None:
    assert run(sw(1, 0), sw(2, 5), sw(3, 8)) == run(sw(3, 8), sw(1, 0), sw(2, 5))


def test_folding_in_two_batches_equals_one() -> None:
    one = fold(CardState(), [sw(1, 0), sw(2, 3), sw(3, 30)], CFG)
    two = fold(fold(CardState(), [sw(1, 0), sw(2, 3)], CFG), [sw(3, 30)], CFG)
    assert features(TOKEN, one, CFG, T0) == features(TOKEN, two, CFG, T0)


def test_tiles_count_every_swipe_they_are_given() -> None:
    # Tiles keep no swipe ids: a swipe is published once at the edge (the scorer does not publish a
    # retried request again), so the fold counts what it gets, as the Spark aggregation does.
    state = fold(CardState(), [sw(1, 0), sw(1, 0)], CFG)
    assert features(TOKEN, state, CFG, T0).windows[0].count == 2


def test_late_swipe_counts_but_does_not_move_as_of() -> None:
    state = fold(CardState(), [sw(1, 0), sw(2, 8)], CFG)
    state = fold(state, [sw(3, 5)], CFG)
    f = features(TOKEN, state, CFG, T0)
    assert f.as_of == T0 + timedelta(minutes=8)
    assert f.windows[0].count == 3
    assert f.last_swipe_id == "s2"
    assert f.session.swipes == 3  # a late swipe inside the session's minutes belongs to it


def test_denied_swipes_are_counted() -> None:
    state = fold(CardState(), [sw(1, 0, decision="deny"), sw(2, 1, decision="approve"), sw(3, 2)], CFG)
    assert features(TOKEN, state, CFG, T0).windows[0].denied == 1


def test_profile_tracks_log_amount_and_habits() -> None:
    state = fold(CardState(), [sw(1, 0, 10.0), sw(2, 60 * 5, 100.0, country="DE")], CFG)
    p = features(TOKEN, state, CFG, T0).profile
    assert p.swipes == 2
    assert p.countries == ["DE", "FR"]  # one day: most recent last by day, then by value
    assert p.log_amount_std > 0
    assert p.hour_histogram[9] == 1 and p.hour_histogram[14] == 1


def test_tiles_are_trimmed_to_what_a_feature_still_reads() -> None:
    cfg = FeatureConfig(horizons_s=(600, 3600), session_gap_s=900, session_span_s=2 * 3600, final_after_s=600)
    state = fold(CardState(), [sw(i, i * 30) for i in range(10)], cfg)  # 09:00 .. 13:30
    minutes = sorted(start for (g, start) in state.tiles if g == 60)
    newest = T0.timestamp() + 270 * 60
    assert minutes[0] >= newest - 2 * 3600 - 600 - 60  # minute tiles: the session span back, and final
    # no window reads hour tiles: the open hour and the one ended less than `final_after_s` ago are left
    assert [s for (g, s) in state.tiles if g == 3600] == [T0.timestamp() + 4 * 3600]
    assert [g for (g, _) in state.tiles].count(86400) == 1  # today
    assert features(TOKEN, state, cfg, T0).profile.swipes == 10


def test_days_no_window_reads_roll_into_the_history_and_the_profile_stays_the_same() -> None:
    # 40 days, a swipe every 9 hours at changing merchants and places: rolled, or every tile held
    swipes = [
        sw(
            i,
            i * 540,
            amount=3.0 + i % 7,
            merchant=f"m{i % 45}",
            country="FR" if i % 5 else "DE",
            lat=48.0 + (i % 3),
            lon=2.0,
            channel="ecom" if i % 4 == 0 else "pos",
        )
        for i in range(107)
    ]
    rolled = fold(CardState(), swipes, CFG)
    held = fold(
        CardState(), swipes, FeatureConfig(horizons_s=CFG.horizons_s, session_gap_s=900, final_after_s=10**9)
    )
    assert len(rolled.tiles) < 10 < len(held.tiles)
    assert rolled.history.count > 90
    a, b = features(TOKEN, rolled, CFG, T0).profile, features(TOKEN, held, CFG, T0).profile
    assert a.model_dump(exclude={"log_amount_mean", "log_amount_std"}) == b.model_dump(
        exclude={"log_amount_mean", "log_amount_std"}
    )
    assert (a.log_amount_mean, a.log_amount_std) == pytest.approx((b.log_amount_mean, b.log_amount_std))
    assert len(a.merchants) == 32 and a.swipes == 107


def test_a_rolled_day_sent_again_is_not_counted_twice() -> None:
    state = fold(CardState(), [sw(1, 0), sw(2, 3 * 24 * 60)], CFG)  # day 0 rolled, day 3 held
    (day0,) = [t for t in tiles_of_swipe(sw(1, 0)) if t.grain_s == 86400]
    state.put(day0)  # a backfill or a replayed batch of day 0
    state.trim(CFG)
    assert features(TOKEN, state, CFG, T0).profile.swipes == 2


# Which tiles a window reads: the coarsest grain that fits at least 6 times.
@pytest.mark.parametrize(
    ("horizon_s", "grain_s"),
    [
        (60, 60),
        (600, 60),
        (3600, 60),
        (6 * 3600, 3600),
        (86400, 3600),
        (7 * 86400, 86400),
        (30 * 86400, 86400),
    ],
)
def test_window_grain(horizon_s: int, grain_s: int) -> None:
    assert window_grain(horizon_s) == grain_s


def test_long_windows_merge_hour_and_day_tiles() -> None:
    cfg = FeatureConfig(horizons_s=(86400, 7 * 86400), session_gap_s=900)
    days = [sw(i, i * 24 * 60 + 5, amount=float(i + 1)) for i in range(10)]  # one swipe a day, 09:05
    f = features(TOKEN, fold(CardState(), days, cfg), cfg, T0)
    w24, w7d = f.windows
    # (day 8 09:05, day 9 09:05] on hour tiles: day 8's [09:00, 10:00) is the far-edge tile, counted whole
    assert (w24.count, w24.amount_sum) == (2, 19.0)
    # (day 2 09:05, day 9 09:05] on day tiles: the far-edge day 2 counts whole, so days 2..9
    assert (w7d.count, w7d.amount_sum, w7d.amount_max) == (8, sum(range(3, 11)), 10.0)


def test_no_swipes_no_features() -> None:
    with pytest.raises(ValueError, match="no swipe"):
        features(TOKEN, CardState(), CFG, T0)


PARIS, LYON, SYDNEY = (48.857, 2.352), (45.764, 4.836), (-33.869, 151.209)
FIJI_EAST, FIJI_WEST = (-17.8, 179.9), (-17.8, -179.9)


def at(i: int, where: tuple[float, float] | None) -> Swipe:
    """A swipe at a place, or online (no position) when `where` is None."""
    if where is None:
        return sw(i, i, channel="ecom")
    return sw(i, i, lat=where[0], lon=where[1])


# Timeline of positions, oldest first; the home is the running mean, the spread the RMS distance to it:
#
#   Paris  Paris  (online)  Lyon   ->  home pulled 1/3 of the way to Lyon (~130 km of ~390 km)
#   Fiji east | Fiji west          ->  across the antimeridian: home between them, not at longitude 0
@pytest.mark.parametrize(
    ("places", "home", "spread_km", "located"),
    [
        ([None], None, None, 0),
        ([PARIS], PARIS, 0.0, 1),
        ([PARIS, PARIS, None], PARIS, 0.0, 2),
        ([PARIS, PARIS, None, LYON], (47.83, 3.22), 185.0, 3),
        ([FIJI_EAST, FIJI_WEST], (-17.8, 180.0), 10.6, 2),
    ],
)
def test_home_is_the_mean_card_present_position(
    places: list[tuple[float, float] | None],
    home: tuple[float, float] | None,
    spread_km: float | None,
    located: int,
) -> None:
    state = fold(CardState(), [at(i, w) for i, w in enumerate(places)], CFG)
    p = features(TOKEN, state, CFG, T0).profile
    assert p.located_swipes == located
    if home is None:
        assert (p.home_lat, p.home_lon, p.home_spread_km) == (None, None, None)
        return
    assert p.home_lat == pytest.approx(home[0], abs=0.01)
    assert abs((p.home_lon or 0.0) - home[1]) % 360 == pytest.approx(0.0, abs=0.01)
    assert p.home_spread_km == pytest.approx(spread_km, abs=1.0)


def test_home_vector_round_trips_through_the_published_profile() -> None:
    state = fold(CardState(), [at(1, PARIS), at(2, LYON), at(3, SYDNEY)], CFG)
    (day,) = [t for (g, _), t in state.tiles.items() if g == 86400]
    mean = (day.home_x / day.located, day.home_y / day.located, day.home_z / day.located)
    p = features(TOKEN, state, CFG, T0).profile
    assert p.home_lat is not None and p.home_lon is not None and p.home_spread_km is not None
    assert home_of(*mean) == pytest.approx((p.home_lat, p.home_lon, p.home_spread_km), abs=1e-5)
    assert home_vector(p.home_lat, p.home_lon, p.home_spread_km) == pytest.approx(mean, abs=1e-6)


def test_places_keep_home_cells_when_a_burst_happens_far_away() -> None:
    swipes = [at(i, PARIS) for i in range(5)] + [at(5 + i, SYDNEY) for i in range(5)]
    p = features(TOKEN, fold(CardState(), swipes, CFG), CFG, T0).profile
    assert sorted(p.places) == ["-136:604", "195:9"]  # Paris's cell is still known; the burst added one
    # whereas the mean moved thousands of km away from both
    assert p.home_lat is not None and p.home_lon is not None
    assert haversine_km(p.home_lat, p.home_lon, *PARIS) > 5000


def test_a_card_whose_minute_tile_has_not_arrived_yet_has_an_empty_live_session() -> None:
    # card-tiles readers get a card's tiles from several partitions: the day tile may come first
    state = fold(CardState(), [sw(1, 0), sw(2, 3)], CFG)
    state.tiles = {k: t for k, t in state.tiles.items() if k[0] != 60}
    f = features(TOKEN, state, CFG, T0)
    assert (f.session.swipes, f.session.start) == (0, T0 + timedelta(minutes=3))
    assert f.profile.swipes == 2 and f.last_swipe_id == "s2"


def _types(value: object) -> object:
    """A record's values as their types, nested records and lists walked: what JSON writes differs by type."""
    if isinstance(value, BaseModel):
        return (type(value), {k: _types(v) for k, v in value.__dict__.items()})
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value)


# Each merge builds its records unvalidated: they must be exactly what validation would build,
# down to each value's type (an int 0 where a float goes would be written "0", not "0.0").
@pytest.mark.parametrize(
    "swipes",
    [
        [sw(1, 0)],
        [sw(1, 0), sw(2, 5, 20), sw(3, 21)],
        [sw(1, 0), sw(2, 200)],  # the 10-minute window holds no tile: its sums are 0.0, its max 0.0
        [at(1, PARIS), at(2, None), at(3, SYDNEY)],  # an online swipe: no place, no home from it
        [sw(i, i * 600, merchant=f"m{i % 7}", country="DE" if i % 3 else "FR") for i in range(40)],
    ],
)
def test_merged_records_are_what_validation_builds(swipes: list[Swipe]) -> None:
    f = features(TOKEN, fold(CardState(), swipes, CFG), CFG, T0)
    validated = CardFeatures.model_validate(f.model_dump())
    assert f == validated
    assert to_kafka(f) == to_kafka(validated)
    assert _types(f) == _types(validated)
    assert f.model_fields_set == validated.model_fields_set


@pytest.mark.parametrize("token", ["ct_short", "ct_" + "AB" * 16, "ct_" + "ab" * 16 + "\n", 42])
def test_a_merge_checks_the_token_it_is_given(token: object) -> None:
    with pytest.raises(ValueError, match="not a card token"):
        features(token, fold(CardState(), [sw(1, 0)], CFG), CFG, T0)  # type: ignore[arg-type]


def day(start_days: int, *seen: tuple[str, str, str, str | None]) -> Tile:
    return Tile(grain_s=86400, start_s=start_days * 86400, count=len(seen), seen=set(seen))


#   day 1: a, b        day 2: b, c        -> a (day 1), then b and c (day 2; equal days: by value)
#   history: z (rolled, older than any day held), a (rolled)   -> z, then a moves up to day 1
@pytest.mark.parametrize(
    ("recent", "days", "merchants", "places"),
    [
        ([{}, {}, {}, {}], [], [], []),
        (
            [{}, {}, {}, {}],
            [
                day(1, ("a", "FR", "1", "p1"), ("b", "FR", "1", None)),
                day(2, ("c", "FR", "1", None), ("b", "FR", "1", None)),
            ],
            ["a", "b", "c"],
            ["p1"],
        ),
        (
            [{"z": 5, "a": 7}, {}, {}, {"q": 3}],
            [day(1, ("a", "FR", "1", "p1"))],
            ["z", "a"],
            ["q", "p1"],
        ),
        # more than the profile lists: the most recent MAX_PROFILE_MERCHANTS, oldest dropped first
        (
            [{}, {}, {}, {}],
            [day(d, (f"m{d:02d}", "FR", "1", None)) for d in range(40)],
            [f"m{d:02d}" for d in range(8, 40)],
            [],
        ),
    ],
)
def test_profile_lists_are_the_most_recent_values_of_every_day(
    recent: list[dict[str, int]], days: list[Tile], merchants: list[str], places: list[str]
) -> None:
    past = CardHistory(recent=recent)
    p = _profile(past, days, [])
    assert (p.merchants, p.places) == (merchants, places)


@pytest.mark.parametrize(
    ("tiles", "newest_id"),
    [
        ([], None),
        ([(60, 0, (5, "b")), (60, 60, (9, "a")), (3600, 0, (9, "a"))], "a"),  # equal: the first held
        ([(60, 0, (5, "b")), (86400, 0, (5, "c"))], "c"),  # same time: the greater swipe id
    ],
)
def test_the_newest_tile_is_the_one_of_the_newest_swipe(
    tiles: list[tuple[int, int, tuple[int, str]]], newest_id: str | None
) -> None:
    state = CardState(
        tiles={
            (g, s): Tile(grain_s=g, start_s=s, count=1, last=(t, i, "FR", None, None))
            for g, s, (t, i) in tiles
        }
    )
    got = state.newest()
    assert (got.last[1] if got is not None and got.last is not None else None) == newest_id
    if tiles and newest_id == "a":
        assert got is state.tiles[(60, 60)]


@pytest.mark.parametrize(
    "config", [CFG, FeatureConfig(), FeatureConfig(horizons_s=(60, 7 * 86400), final_after_s=60)]
)
def test_what_a_config_works_out_once_is_what_it_defines(config: FeatureConfig) -> None:
    assert config.window_grains == tuple((h, window_grain(h)) for h in config.horizons_s)
    assert config.tile_retentions_s == {g: config.tile_retention_s(g) for g in GRAINS_S}
    assert config == FeatureConfig(
        **{f: getattr(config, f) for f in ("horizons_s", "session_gap_s", "session_span_s", "final_after_s")}
    )
