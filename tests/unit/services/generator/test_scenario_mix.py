"""`--scenario-mix` as tables: parsing, the instance counts it gives, and what a mixed history holds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from services.generator.history import labeled_chunk, labeled_history
from services.generator.population import PopulationConfig, build_population
from services.generator.scenario_mix import DEFAULT_MIX, FAMILIES, format_mix, instance_counts, parse_mix


@pytest.mark.parametrize(
    ("text", "mix"),
    [
        ("stolen_card=1", {"stolen_card": 1.0}),
        (" stolen_card = 2 , terminal_compromise=0.5,", {"stolen_card": 2.0, "terminal_compromise": 0.5}),
        ("low_and_slow=3,card_testing=0", {"low_and_slow": 3.0, "card_testing": 0.0}),
    ],
)
def test_a_mix_parses_to_weights(text: str, mix: dict[str, float]) -> None:
    assert parse_mix(text) == mix
    assert parse_mix(format_mix(mix)) == mix


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stolen_card", "not NAME=WEIGHT"),
        ("skimming=1", "unknown; choose from"),
        ("stolen_card=1,stolen_card=2", "twice"),
        ("stolen_card=lots", "not a number"),
        ("stolen_card=-1", ">= 0"),
        ("stolen_card=nan", ">= 0"),
        ("stolen_card=0", "no scenario with a weight above 0"),
        ("", "no scenario with a weight above 0"),
    ],
)
def test_a_bad_mix_says_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mix(text)


@pytest.mark.parametrize(
    ("mix", "per_scenario", "counts"),
    [
        ({"stolen_card": 1.0}, 10, {"stolen_card": 10}),
        ({"stolen_card": 0.5, "low_and_slow": 3.0}, 10, {"stolen_card": 5, "low_and_slow": 30}),
        ({"card_testing": 0.0}, 10, {"card_testing": 0}),
    ],
)
def test_whole_counts_are_exact(mix: dict[str, float], per_scenario: int, counts: dict[str, int]) -> None:
    assert instance_counts(mix, per_scenario, np.random.default_rng(0)) == counts


def test_a_fractional_count_rounds_up_as_often_as_its_fraction() -> None:
    rng = np.random.default_rng(1)
    draws = [instance_counts({"stolen_card": 0.25}, 10, rng)["stolen_card"] for _ in range(2_000)]
    assert set(draws) == {2, 3}
    assert np.mean(draws) == pytest.approx(2.5, abs=0.05)


def test_the_default_mix_holds_every_family_once() -> None:
    assert dict.fromkeys(FAMILIES, 1.0) == DEFAULT_MIX and len(FAMILIES) == 7


def test_a_mixed_history_holds_only_the_listed_families_in_proportion() -> None:
    rng = np.random.default_rng(5)
    pop = build_population(rng, b"k", PopulationConfig(cards=600))
    start = datetime(2026, 4, 1, tzinfo=UTC)
    mix = {"stolen_card": 2.0, "terminal_compromise": 1.0, "low_and_slow": 1.0}
    out = labeled_history(pop, start, 20, rng, per_scenario=3, mix=mix)
    fraud = Counter(ls.scenario for ls in out if ls.is_fraud)
    assert set(fraud) == set(mix)
    assert fraud["stolen_card"] == 6 * 12  # 6 thefts of 12 swipes each
    assert len({ls.swipe.swipe_id for ls in out}) == len(out)
    # a compromised terminal's background swipes are fraud too: some come from the background's ids
    assert any(ls.scenario == "terminal_compromise" and ls.swipe.swipe_id.startswith("bg-") for ls in out)
    times = [ls.swipe.event_time for ls in out]
    assert times == sorted(times)


def test_without_a_mix_the_history_holds_the_classic_four() -> None:
    rng = np.random.default_rng(9)
    pop = build_population(rng, b"k", PopulationConfig(cards=300))
    out = labeled_history(pop, datetime(2026, 4, 1, tzinfo=UTC), 8, rng, per_scenario=2)
    assert {ls.swipe.swipe_id[:3] for ls in out if ls.is_fraud} == {"sto", "car", "com", "acc"}


def test_a_compromise_started_in_one_chunk_goes_on_in_the_next() -> None:
    """A world written chunk by chunk: a compromise is not cut where the generator's chunk ends."""
    rng = np.random.default_rng(3)
    pop = build_population(rng, b"k", PopulationConfig(cards=300))
    start = datetime(2026, 4, 1, tzinfo=UTC)
    world_end = start + timedelta(days=30)
    mix = {"terminal_compromise": 1.0}
    first, carry = labeled_chunk(
        pop, start, 10, rng, per_scenario=3, mix=mix, world_end=world_end, id_prefix="a-"
    )
    # every compromise lasts at least 9 days and starts after day 3: all are still open at day 10
    assert len(carry.windows) == 3 and all(w.end > start + timedelta(days=10) for w in carry.windows)
    assert carry.swipes and all(ls.swipe.event_time >= start + timedelta(days=10) for ls in carry.swipes)
    second, rest = labeled_chunk(
        pop,
        start + timedelta(days=10),
        10,
        rng,
        per_scenario=0,
        mix=mix,
        carry=carry,
        world_end=world_end,
        id_prefix="b-",
    )
    compromised = {w.merchant_id for w in carry.windows}
    relabeled = [ls for ls in second if ls.swipe.swipe_id.startswith("b-bg-") and ls.is_fraud]
    assert relabeled and {ls.swipe.merchant_id for ls in relabeled} <= compromised
    assert any(ls.swipe.swipe_id.startswith("a-ter") for ls in second)  # the ring's later charges
    assert max(ls.swipe.event_time for ls in first) < start + timedelta(days=10)
    assert all(w.end > start + timedelta(days=20) for w in rest.windows)
    # and a one-chunk world stops with its end, as before
    assert labeled_history(pop, start, 10, np.random.default_rng(3), per_scenario=1, mix=mix)[
        -1
    ].swipe.event_time < start + timedelta(days=10)
