"""Fraud scenarios and late labels as tables: counts, timing, places, labels, determinism."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from foundation.geometry import haversine_km
from services.generator.population import Population, PopulationConfig, build_population
from services.generator.scenarios import (
    HIGH_RISK_MCCS,
    SCENARIOS,
    CardTestingParams,
    LabelDelay,
    LabeledSwipe,
    SkimmerParams,
    StolenCardParams,
    TakeoverParams,
    account_takeover,
    card_testing,
    compromised_merchant,
    labels_for,
    stolen_card,
    story_theft_at,
)
from streaming.schema import to_kafka

KEY = b"test-key"
THEFT = story_theft_at(date(2026, 11, 27))  # 09:00:00 UTC


@pytest.fixture(scope="module")
def pop() -> Population:
    return build_population(np.random.default_rng(21), KEY, PopulationConfig(cards=3_000))


def frauds(out: list[LabeledSwipe]) -> list[LabeledSwipe]:
    return [ls for ls in out if ls.is_fraud]


def legit(out: list[LabeledSwipe]) -> list[LabeledSwipe]:
    return [ls for ls in out if not ls.is_fraud]


def test_story_theft_is_nine_o_clock_utc_on_a_half_hour_boundary() -> None:
    assert datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC) == THEFT
    assert THEFT.minute % 30 == 0 and THEFT.second == 0


# Stolen card, card 7:
#
#   history: 14 days of the owner's swipes, at home     theft_at 09:00:00          09:30:00
#   h  h   h h    h  ...   h    h   h                   F F  F   F F  F  F F F F F F|
#                                                       ^ first fraud exactly here  ^ none at or after
@pytest.mark.parametrize("card", [7, 123, 2999])
def test_stolen_card_burst_after_a_legit_history_at_home(pop: Population, card: int) -> None:
    out = stolen_card(pop, card, THEFT, np.random.default_rng(card))
    fraud, history = frauds(out), legit(out)
    token = pop.token(card)
    assert {ls.swipe.card_token for ls in out} == {token}
    assert {ls.scenario for ls in out} == {"stolen_card"}

    assert len(fraud) == 12
    assert fraud[0].swipe.event_time == THEFT
    assert all(THEFT <= ls.swipe.event_time < THEFT + timedelta(minutes=30) for ls in fraud)
    amounts = [ls.swipe.amount for ls in fraud]
    assert amounts == sorted(amounts) and amounts[-1] > 10 * amounts[0]
    assert {ls.swipe.mcc for ls in fraud} <= set(HIGH_RISK_MCCS)
    for ls in fraud:
        s = ls.swipe
        assert s.channel == "pos" and s.lat is not None and s.lon is not None
        assert haversine_km(pop.home_lat[card], pop.home_lon[card], s.lat, s.lon) > 200

    assert len(history) > 5  # ~2.5 swipes a day for 14 days, give or take the card's own rate
    assert all(THEFT - timedelta(days=14) <= ls.swipe.event_time < THEFT for ls in history)
    for ls in history:
        s = ls.swipe
        if s.channel == "pos":
            assert s.country == pop.home_country(card)
            assert s.lat is not None and s.lon is not None
            assert haversine_km(pop.home_lat[card], pop.home_lon[card], s.lat, s.lon) < 80


def test_stolen_card_mostly_abroad(pop: Population) -> None:
    abroad = 0
    for card in range(40):
        fraud = frauds(
            stolen_card(pop, card, THEFT, np.random.default_rng(card), StolenCardParams(history_days=0))
        )
        abroad += fraud[0].swipe.country != pop.home_country(card)
    assert abroad >= 24  # foreign_share 0.8 over 40 thefts


@pytest.mark.parametrize(
    ("params", "probes"), [(CardTestingParams(), 15), (CardTestingParams(probes=5, probe_minutes=2), 5)]
)
def test_card_testing_tiny_probes_at_one_merchant_then_a_large_one(
    pop: Population, params: CardTestingParams, probes: int
) -> None:
    start = THEFT
    fraud = frauds(card_testing(pop, 42, start, np.random.default_rng(1), params))
    assert len(fraud) == probes + 1
    *tests, cash_out = fraud
    assert len({ls.swipe.merchant_id for ls in tests}) == 1
    assert all(ls.swipe.channel == "ecom" and ls.swipe.lat is None for ls in fraud)
    assert all(ls.swipe.amount <= params.probe_amount[1] for ls in tests)
    assert tests[-1].swipe.event_time - start < timedelta(minutes=params.probe_minutes)
    assert cash_out.swipe.amount >= params.cash_out_amount[0]
    assert cash_out.swipe.merchant_id != tests[0].swipe.merchant_id
    assert cash_out.swipe.event_time == tests[-1].swipe.event_time + timedelta(
        minutes=params.cash_out_after_minutes
    )


def test_skimmer_victims_visit_the_shop_then_are_misused_days_later_elsewhere(pop: Population) -> None:
    shop = int(pop.usual_merchants(5)[0])
    params = SkimmerParams(victims=10, history_days=2)
    out = compromised_merchant(pop, shop, THEFT, np.random.default_rng(2), params)
    shop_id = pop.merchant_ids[shop]
    visits = {
        ls.swipe.card_token: ls.swipe.event_time for ls in legit(out) if ls.swipe.merchant_id == shop_id
    }
    assert len(visits) == 10
    assert all(THEFT <= t < THEFT + timedelta(days=params.compromise_days) for t in visits.values())
    fraud = frauds(out)
    assert {ls.swipe.card_token for ls in fraud} == set(visits)
    shop_country = pop.geo.countries[pop.merchant_country[shop]]
    assert len({ls.swipe.country for ls in fraud}) == 1  # one ring, one place
    for ls in fraud:
        assert ls.swipe.country != shop_country
        assert ls.swipe.merchant_id != shop_id
        assert ls.swipe.event_time - visits[ls.swipe.card_token] >= timedelta(
            days=params.misuse_after_days[0]
        )
    assert 2 * 10 <= len(fraud) <= 5 * 10


def test_skimmer_needs_a_shop(pop: Population) -> None:
    with pytest.raises(ValueError, match="online merchant"):
        compromised_merchant(pop, pop.n_pos, THEFT, np.random.default_rng(0))


def test_account_takeover_changes_country_channel_and_spending(pop: Population) -> None:
    card = 77
    out = account_takeover(pop, card, THEFT, np.random.default_rng(3), TakeoverParams())
    fraud = frauds(out)
    assert len(fraud) == 8
    median = float(np.exp(pop.log_mu[card]))
    assert all(ls.swipe.channel == "ecom" for ls in fraud)
    assert len({ls.swipe.country for ls in fraud}) == 1
    assert fraud[0].swipe.country != pop.home_country(card)
    assert all(ls.swipe.amount >= 4 * median * 0.99 for ls in fraud)
    assert all(THEFT <= ls.swipe.event_time < THEFT + timedelta(hours=4) for ls in fraud)
    assert all(ls.swipe.event_time < THEFT for ls in legit(out))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_is_deterministic_ordered_and_pan_free(pop: Population, name: str) -> None:
    a = SCENARIOS[name](pop, THEFT, np.random.default_rng(8), None, None)
    b = SCENARIOS[name](pop, THEFT, np.random.default_rng(8), None, None)
    assert [to_kafka(ls.swipe) for ls in a] == [to_kafka(ls.swipe) for ls in b]
    assert [ls.is_fraud for ls in a] == [ls.is_fraud for ls in b]
    times = [ls.swipe.event_time for ls in a]
    assert times == sorted(times)
    assert frauds(a) and len({ls.swipe.swipe_id for ls in a}) == len(a)
    pans = {pop.token(i): pop.pan(i) for i in range(pop.cards)}
    for ls in a:
        assert pans[ls.swipe.card_token] not in to_kafka(ls.swipe).decode()


def test_skimmer_shrinks_its_calendar_to_fit_a_short_run(pop: Population) -> None:
    room = timedelta(hours=12)
    out = SCENARIOS["compromised_merchant"](pop, THEFT, np.random.default_rng(4), 0.0, room)
    assert frauds(out)
    assert max(ls.swipe.event_time for ls in out) <= THEFT + room


def test_labels_only_for_fraud_by_default_arriving_days_later(pop: Population) -> None:
    out = stolen_card(pop, 9, THEFT, np.random.default_rng(5))
    labels = labels_for(out, np.random.default_rng(6))
    assert len(labels) == 12
    assert all(label.is_fraud and label.scenario == "stolen_card" for label, _ in labels)
    by_id = {ls.swipe.swipe_id: ls.swipe for ls in out}
    for label, publish_at in labels:
        swipe = by_id[label.swipe_id]
        assert label.card_token == swipe.card_token and label.event_time == swipe.event_time
        assert label.merchant_id == swipe.merchant_id
        assert label.reported_at == publish_at
        assert timedelta(hours=12) < publish_at - swipe.event_time < timedelta(days=60)
        assert pop.pan(9) not in to_kafka(label).decode()
    assert [p for _, p in labels] == sorted(p for _, p in labels)


def test_label_compression_divides_the_delay_and_legit_share_adds_negatives(pop: Population) -> None:
    out = stolen_card(pop, 9, THEFT, np.random.default_rng(5))
    slow = dict((lab.swipe_id, p) for lab, p in labels_for(out, np.random.default_rng(6)))
    fast = dict(
        (lab.swipe_id, p)
        for lab, p in labels_for(out, np.random.default_rng(6), LabelDelay(compression=1440))
    )
    event = {ls.swipe.swipe_id: ls.swipe.event_time for ls in out}
    for sid in slow:
        assert (slow[sid] - event[sid]) / (fast[sid] - event[sid]) == pytest.approx(1440, rel=1e-6)
    everything = labels_for(out, np.random.default_rng(6), LabelDelay(legit_share=1.0))
    assert len(everything) == len(out)
    assert sum(not lab.is_fraud for lab, _ in everything) == len(legit(out))


def test_label_compression_must_be_positive() -> None:
    with pytest.raises(ValueError, match="compression"):
        labels_for([], np.random.default_rng(0), LabelDelay(compression=0))
