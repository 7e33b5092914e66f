"""Request-time features as tables: travel speed, novelty, amount z-score, hour, and the lag cover."""

from __future__ import annotations

import math
from typing import Any

import pytest

from scoring.serving.request_features import DecidedSwipe, LagCover, RequestFeatures, request_features, stale
from streaming.card_state import CardState, features, fold
from streaming.schema import Swipe
from tests.unit.scoring.builders import CFG, NEW_YORK, PARIS, T0, TOKEN, card_features, swipe

NEAR_PARIS = (48.80, 2.40)  # about 7.2 km from PARIS


def decided(i: int, seconds: float, decided_at: float | None = None, **kw: Any) -> DecidedSwipe:
    s = swipe(i, seconds, **kw)
    return DecidedSwipe.of(
        s, denied=False, decided_at=decided_at if decided_at is not None else s.event_time.timestamp()
    )


def rf(s: Any, f: Any, pending: tuple[DecidedSwipe, ...] = ()) -> RequestFeatures:
    return request_features(s, f, pending, CFG)


# Travel: the card's last swipe was in Paris at T0 (features.as_of).
@pytest.mark.parametrize(
    ("where", "after_s", "distance_km", "kmh", "impossible"),
    [
        (NEW_YORK, 3600, 5837, 5837, True),  # Paris -> New York in an hour
        (NEW_YORK, 36_000, 5837, 584, False),  # ... in ten hours: a flight
        (NEAR_PARIS, 30, 7.2, 7.2 * 60, False),  # geocoding noise: speed over >= 60 s, distance < 100 km
        (None, 60, None, None, False),  # no position on the swipe
    ],
)
def test_travel_speed_since_last_swipe(
    where: tuple[float, float] | None,
    after_s: float,
    distance_km: float | None,
    kmh: float | None,
    impossible: bool,
) -> None:
    got = rf(swipe(seconds=after_s, where=where), card_features(as_of_s=0, where=PARIS))
    assert got.seconds_since_last == after_s
    if distance_km is None:
        assert got.distance_km is None and got.travel_kmh is None
    else:
        assert got.distance_km == pytest.approx(distance_km, rel=0.01)
        assert got.travel_kmh == pytest.approx(kmh, rel=0.02)
    assert got.impossible_travel is impossible


def test_the_scorers_own_newer_swipe_is_the_last_position() -> None:
    # Stream: Paris at T0. We decided a New York swipe at T0+10h; now Paris again 30 min later.
    pending = (decided(2, 36_000, where=NEW_YORK),)
    got = rf(swipe(3, 36_000 + 1800, where=PARIS), card_features(as_of_s=0, where=PARIS), pending)
    assert got.seconds_since_last == 1800
    assert got.impossible_travel is True


@pytest.mark.parametrize(
    ("country", "merchant", "mcc", "features", "pending", "expected"),
    [
        ("DE", "m1", "5411", True, (), (True, False, False)),
        ("FR", "m9", "5999", True, (), (False, True, True)),
        ("FR", "m1", "5411", True, (), (False, False, False)),
        ("DE", "m9", "5999", False, (), (False, False, False)),  # unknown card: nothing to compare with
        # a swipe we decided seconds ago already made DE, m9 and 5999 known
        ("DE", "m9", "5999", True, ("DE", "m9", "5999"), (False, False, False)),
    ],
)
def test_new_country_merchant_mcc(
    country: str,
    merchant: str,
    mcc: str,
    features: bool,
    pending: tuple[str, ...],
    expected: tuple[bool, ...],
) -> None:
    buffered = (decided(5, 5, country=pending[0], merchant=pending[1], mcc=pending[2]),) if pending else ()
    got = rf(
        swipe(6, 10, country=country, merchant=merchant, mcc=mcc),
        card_features() if features else None,
        buffered,
    )
    assert (got.new_country, got.new_merchant, got.new_mcc) == expected


MEAN = math.log1p(20.0)


@pytest.mark.parametrize(
    ("amount", "swipes", "log_std", "z"),
    [
        (20.0, 10, 0.5, 0.0),
        (math.expm1(MEAN + 1.0), 10, 0.5, 2.0),  # one log-unit above the habit, std 0.5
        (math.expm1(MEAN - 0.5), 10, 0.5, -1.0),
        (math.expm1(MEAN + 1.0), 10, 0.001, 4.0),  # a card that always spends the same: std floored at 0.25
        (1_000_000.0, 10, 0.001, 10.0),  # clipped
        (500.0, 1, 0.0, 0.0),  # one swipe is no habit yet
    ],
)
def test_amount_z_score_against_the_profile(amount: float, swipes: int, log_std: float, z: float) -> None:
    got = rf(swipe(amount=amount, seconds=60), card_features(swipes=swipes, log_mean=MEAN, log_std=log_std))
    assert got.amount_z == pytest.approx(z, abs=1e-6)


@pytest.mark.parametrize(
    ("hour", "share"),
    [(9, (10 + 1) / (10 + 24)), (3, 1 / 34)],
)
def test_hour_share_is_laplace_smoothed(hour: int, share: float) -> None:
    hours = [0] * 24
    hours[9] = 10  # the card always swipes at 09:00 UTC
    s = swipe(seconds=(hour - 9) % 24 * 3600 + 86_400)
    assert rf(s, card_features(hours=hours)).hour_share == pytest.approx(share)
    assert rf(s, None).hour_share == pytest.approx(1 / 24)


# Lag cover. The stream's features stay at as_of = T0 (one swipe in the 10-minute window) while a
# burst of swipes, one per second, is decided by the scorer itself:
#
#   seconds    0    1    2    3    4    5
#   stream     s0                              as_of = 0, window 600 s: count 1
#   scorer          s1   s2   s3   s4   s5     each is counted by the next one
#   velocity        2    3    4    5    6      = 1 streamed + buffered + the swipe itself
def test_a_burst_faster_than_the_micro_batch_is_counted() -> None:
    cover = LagCover()
    features = card_features(as_of_s=0, windows={600: (1, 20.0, 0), 3600: (1, 20.0, 0)})
    counts = []
    for i in range(1, 6):
        s = swipe(i, seconds=i, amount=10.0)
        got = rf(s, features, tuple(cover.pending(TOKEN, features.as_of.timestamp(), CFG.retention_s)))
        counts.append((got.window(600).count, got.window(600).amount_sum, got.lag_covered))  # type: ignore[union-attr]
        cover.record(TOKEN, DecidedSwipe.of(s, denied=False, decided_at=s.event_time.timestamp()))
    assert counts == [(2, 30.0, 0), (3, 40.0, 1), (4, 50.0, 2), (5, 60.0, 3), (6, 70.0, 4)]


def test_buffered_swipes_are_dropped_once_the_stream_passes_them() -> None:
    cover = LagCover()
    for i, t in enumerate((5, 10, 15), start=1):
        cover.record(TOKEN, decided(i, t))
    as_of_10 = (T0.timestamp()) + 10
    assert [s.swipe_id for s in cover.pending(TOKEN, as_of_10, CFG.retention_s)] == ["s3"]
    assert cover.swipes == 1
    assert cover.pending(TOKEN, as_of_10 + 5, CFG.retention_s) == []
    assert len(cover) == 0


def test_buffer_is_bounded_per_card_and_in_cards() -> None:
    cover = LagCover(per_card=3, max_cards=2)
    for i in range(1, 6):
        cover.record(TOKEN, decided(i, i))
    assert [s.swipe_id for s in cover.pending(TOKEN, None, CFG.retention_s)] == ["s3", "s4", "s5"]
    other, third = "ct_" + "01" * 16, "ct_" + "02" * 16
    cover.record(other, decided(7, 7))
    cover.record(third, decided(8, 8))  # the least recently decided card (TOKEN) goes
    assert len(cover) == 2
    assert cover.pending(TOKEN, None, CFG.retention_s) == []


def test_a_retried_swipe_counts_once() -> None:
    cover = LagCover()
    cover.record(TOKEN, decided(1, 1))
    cover.record(TOKEN, decided(1, 1))
    assert cover.swipes == 1
    # scoring s1 again: its own buffered copy is not added to itself
    got = rf(swipe(1, 1), card_features(as_of_s=0), tuple(cover.pending(TOKEN, T0.timestamp(), 3600)))
    assert got.window(600).count == 2  # type: ignore[union-attr]


def test_streamed_window_that_ended_before_the_request_window_is_not_counted() -> None:
    #   0 (as_of, 5 swipes in 10 min)        700 (scored): (100, 700] holds none of them
    got = rf(swipe(seconds=700), card_features(as_of_s=0, windows={600: (5, 100.0, 0), 3600: (5, 100.0, 0)}))
    assert got.window(600).count == 1  # type: ignore[union-attr]
    assert got.window(3600).count == 6  # type: ignore[union-attr]


@pytest.mark.parametrize(("decided_ago_s", "expected"), [(299, False), (301, True)])
def test_stale_when_a_decided_swipe_stays_unfolded(decided_ago_s: float, expected: bool) -> None:
    now = 10_000.0
    assert stale([decided(1, 0, decided_at=now - decided_ago_s)], now, 300) is expected


# The lag cover against a complete stream. The card swipes for days; the stream has folded the
# first `folded` swipes, the scorer decided the rest itself:
#
#   swipes     h0 h1 ... h(folded-1) | d ... d      | request
#   stream     folded                |              |
#   lag cover                        | decided here |
#   complete   folded ................................ every swipe before the request
DAYS = [
    (0.0, 12.0, "FR", PARIS, "m1", "pos"),
    (3_600.0, 30.0, "FR", PARIS, "m2", "ecom"),
    (86_400.0, 9.5, "FR", NEAR_PARIS, "m1", "pos"),
    (90_000.0, 250.0, "US", NEW_YORK, "m7", "pos"),
    (180_000.0, 41.0, "US", None, "m8", "ecom"),
    (181_000.0, 3.0, "DE", (52.52, 13.40), "m9", "pos"),
]


@pytest.mark.parametrize("folded", [0, 1, 3, 5])
def test_the_lag_cover_gives_the_profile_a_complete_stream_gives(folded: int) -> None:
    swipes = [
        Swipe(**swipe(i, t, amount, country, where, merchant, channel=channel).model_dump(), card_token=TOKEN)
        for i, (t, amount, country, where, merchant, channel) in enumerate(DAYS)
    ]
    request = swipe(99, 182_000.0, 60.0, "DE", (52.50, 13.30), "m1")
    complete = features(TOKEN, fold(CardState(), swipes, CFG), CFG, T0)
    lagging = features(TOKEN, fold(CardState(), swipes[:folded], CFG), CFG, T0) if folded else None
    pending = tuple(DecidedSwipe.of(s, denied=False, decided_at=0.0) for s in swipes[folded:])
    got, want = rf(request, lagging, pending), rf(request, complete)
    for name in (
        "amount_z",
        "history_swipes",
        "home_distance_km",
        "home_spread_km",
        "located_swipes",
        "place_distance_km",
        "new_country",
        "new_merchant",
        "new_mcc",
        "hour_share",
        "ecom_share",
    ):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-6, abs=1e-6), name
