"""Background traffic: event-time order, counts, determinism, schema validity and habits (no timing)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from foundation.geometry import haversine_km
from services.generator.population import Population, PopulationConfig, build_population
from services.generator.traffic import background
from streaming.schema import Swipe, from_kafka, to_kafka

KEY = b"test-key"
T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC


@pytest.fixture(scope="module")
def pop() -> Population:
    return build_population(np.random.default_rng(3), KEY, PopulationConfig(cards=2_000))


@pytest.fixture(scope="module")
def week(pop: Population) -> list[Swipe]:
    return list(background(pop, T0, np.random.default_rng(4), end=T0 + timedelta(days=7)))


def test_swipes_are_in_event_time_order_within_the_window(week: list[Swipe]) -> None:
    times = [s.event_time for s in week]
    assert times == sorted(times)
    assert times[0] >= T0 and times[-1] < T0 + timedelta(days=7)
    assert len({s.swipe_id for s in week}) == len(week)


def test_volume_matches_the_population_rate(pop: Population, week: list[Swipe]) -> None:
    expected = pop.expected_swipes_per_second() * 7 * 86_400
    assert abs(len(week) - expected) / expected < 0.05


def test_count_mode_yields_exactly_count_and_starts_mid_hour(pop: Population) -> None:
    start = T0 + timedelta(minutes=17)
    swipes = list(background(pop, start, np.random.default_rng(1), count=1234))
    assert len(swipes) == 1234
    assert swipes[0].event_time >= start


def test_same_seed_same_swipes(pop: Population) -> None:
    a = [to_kafka(s) for s in background(pop, T0, np.random.default_rng(9), count=3000)]
    b = [to_kafka(s) for s in background(pop, T0, np.random.default_rng(9), count=3000)]
    c = [to_kafka(s) for s in background(pop, T0, np.random.default_rng(10), count=3000)]
    assert a == b
    assert a != c


def test_every_swipe_survives_the_schema_round_trip(week: list[Swipe]) -> None:
    # the generator skips pydantic validation for speed; this is where it would show
    for s in week[:5000]:
        assert from_kafka(Swipe, to_kafka(s)) == s
        assert Swipe.model_validate(s.model_dump()) == s


def test_no_pan_in_any_serialized_swipe(pop: Population, week: list[Swipe]) -> None:
    pans = {pop.token(i): pop.pan(i) for i in range(pop.cards)}
    for s in week[:5000]:
        value = to_kafka(s).decode()
        assert pans[s.card_token] not in value
        assert "is_fraud" not in value


def test_ecom_has_no_position_and_shops_are_near_home(pop: Population, week: list[Swipe]) -> None:
    card_of = {pop.token(i): i for i in range(pop.cards)}
    channels = Counter(s.channel for s in week)
    assert 0.05 < channels["ecom"] / len(week) < 0.4
    for s in week:
        if s.channel == "ecom":
            assert s.lat is None and s.lon is None
        else:
            card = card_of[s.card_token]
            assert s.lat is not None and s.lon is not None
            assert s.country == pop.home_country(card)
            assert haversine_km(pop.home_lat[card], pop.home_lon[card], s.lat, s.lon) < 80


def test_cards_mostly_return_to_their_usual_shops(pop: Population, week: list[Swipe]) -> None:
    card_of = {pop.token(i): i for i in range(pop.cards)}
    pos = [s for s in week if s.channel == "pos"]
    usual = sum(
        s.merchant_id in {pop.merchant_ids[m] for m in pop.usual_merchants(card_of[s.card_token])}
        for s in pos
    )
    assert usual / len(pos) > 0.85


def test_nights_are_quiet_in_local_time(pop: Population, week: list[Swipe]) -> None:
    card_of = {pop.token(i): i for i in range(pop.cards)}
    local_hours = Counter((s.event_time.hour + int(pop.utc_offset[card_of[s.card_token]])) % 24 for s in week)
    night = sum(local_hours[h] for h in (2, 3, 4))
    evening = sum(local_hours[h] for h in (17, 18, 19))
    assert night < 0.1 * evening


def test_naive_start_is_refused(pop: Population) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next(background(pop, datetime(2026, 11, 23), np.random.default_rng(0), count=1))
