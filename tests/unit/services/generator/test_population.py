"""The card population: Luhn-valid PANs, keyed tokens, homes and habits, and determinism under a seed."""

from __future__ import annotations

import numpy as np
import pytest

from foundation.card_tokens import luhn_valid, tokenize_pan
from foundation.geometry import haversine_km
from services.generator.population import (
    BINS,
    Population,
    PopulationConfig,
    build_population,
)

KEY = b"test-key"


@pytest.fixture(scope="module")
def pop() -> Population:
    return build_population(np.random.default_rng(11), KEY, PopulationConfig(cards=3_000))


def test_pans_are_luhn_valid_unique_and_start_with_a_known_bin(pop: Population) -> None:
    pans = [pop.pan(i) for i in range(pop.cards)]
    assert all(len(p) == 16 and luhn_valid(p) for p in pans)
    assert len(set(pans)) == pop.cards
    assert {p[:6] for p in pans} <= set(BINS)


def test_token_is_tokenize_pan_of_the_card_and_hides_it(pop: Population) -> None:
    for i in (0, 1, pop.cards - 1):
        assert pop.token(i) == tokenize_pan(pop.pan(i), KEY)
        assert pop.pan(i) not in pop.token(i)
    assert len({pop.token(i) for i in range(200)}) == 200


def test_same_seed_same_population_other_seed_differs() -> None:
    a = build_population(np.random.default_rng(5), KEY, PopulationConfig(cards=500))
    b = build_population(np.random.default_rng(5), KEY, PopulationConfig(cards=500))
    c = build_population(np.random.default_rng(6), KEY, PopulationConfig(cards=500))
    assert [a.pan(i) for i in range(500)] == [b.pan(i) for i in range(500)]
    assert np.array_equal(a.usual_pos, b.usual_pos) and np.array_equal(a.log_mu, b.log_mu)
    assert a.merchant_mcc == b.merchant_mcc
    assert [a.pan(i) for i in range(500)] != [c.pan(i) for i in range(500)]


def test_usual_shops_are_in_the_home_city(pop: Population) -> None:
    for card in range(0, pop.cards, 97):
        shops = pop.usual_merchants(card)
        assert 6 <= len(shops) <= 20
        assert (shops < pop.n_pos).all()
        for shop in shops:
            assert pop.merchant_country[shop] == pop.geo.city_country[pop.home_city[card]]
            dist = haversine_km(
                pop.home_lat[card], pop.home_lon[card], pop.merchant_lat[shop], pop.merchant_lon[shop]
            )
            assert dist < 80


def test_online_merchants_have_no_position(pop: Population) -> None:
    online = np.arange(pop.n_pos, len(pop.merchant_ids))
    assert len(online) > 0
    assert np.isnan(pop.merchant_lat[online]).all() and np.isnan(pop.merchant_lon[online]).all()
    assert not np.isnan(pop.merchant_lat[: pop.n_pos]).any()


def test_cards_live_in_about_ten_countries(pop: Population) -> None:
    homes = {pop.home_country(i) for i in range(pop.cards)}
    assert len(homes) == 10


def test_rhythm_peaks_in_the_day_and_is_near_zero_at_night(pop: Population) -> None:
    table = pop.rhythm_table
    assert np.allclose(table.sum(axis=1), 1.0)
    night = table[:, 2:5].sum(axis=1)  # local 02:00-05:00, even for the night owls' shifted rows
    day = table[:, 8:22].sum(axis=1)
    assert (night < 0.03).all() and (day > 0.7).all()


def test_spending_is_heavy_tailed_per_card(pop: Population) -> None:
    assert (pop.log_sigma >= 0.5).all() and (pop.log_sigma <= 1.0).all()
    medians = np.exp(pop.log_mu)
    assert 15 < float(np.median(medians)) < 50
    assert float(medians.max() / medians.min()) > 5  # cards differ in how much they spend
    assert 0 < float(pop.ecom_share.mean()) < 0.5


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="FRAUDSTREAM_TOKEN_KEY"):
        build_population(np.random.default_rng(0), b"", PopulationConfig(cards=10))
