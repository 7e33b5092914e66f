"""The catch-up bench's pure parts: the records it publishes, the child's report, the per-card arithmetic."""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime

import numpy as np
import pytest

from bench.catchup import baseline_cards, parse_report, per_card
from bench.catchup_records import card_records
from bench.catchup_table import REPORT_PREFIX, held_bytes, lookup_us
from bench.scorer_data import Template, rekey, templates
from scoring.serving.online import OnlineFeatureTable
from services.generator.population import PopulationConfig, build_population
from streaming.card_state import FeatureConfig
from streaming.schema import CardFeatures, CardTile, from_kafka, to_kafka

KEY = b"test-key"
END = datetime(2026, 11, 26, tzinfo=UTC)


def folded(
    cards: int = 300, template_cards: int = 40
) -> tuple[list[Template], list[tuple[str, list[tuple[bytes, bytes]]]]]:
    rng = np.random.default_rng(3)
    pop = build_population(rng, KEY, PopulationConfig(cards=cards))
    models = templates(pop, rng, FeatureConfig(), end=END, template_cards=template_cards, history_days=7)
    return models, list(card_records(pop, models, cards))


def test_every_card_gets_its_own_token_and_tiles_the_scorer_reads_as_the_job_wrote_them() -> None:
    _, records = folded()
    assert len({token for token, _ in records}) == len(records) == 300
    table = OnlineFeatureTable()
    for token, tiles in records:
        assert tiles
        for key, value in tiles:
            parsed = from_kafka(CardTile, value)
            assert parsed.card_token == token and key == parsed.key.encode()
            assert to_kafka(parsed) == value  # exactly the job's serialization
            table.take(parsed, value, 0.0)
    assert len(table.flush()) == len(table) == 300


def test_cards_reuse_their_template_s_folded_history_under_their_own_token() -> None:
    models, records = folded()
    n = len(models)
    assert 0 < n <= 40
    first, again = records[1], records[1 + n]
    assert first[0] != again[0]
    assert [v for _, v in again[1]] == [v.replace(first[0].encode(), again[0].encode()) for _, v in first[1]]
    history = from_kafka(CardFeatures, models[1].value)
    assert history.profile.merchants  # a folded card, not an empty record


def test_rekey_swaps_the_one_token_and_refuses_anything_else() -> None:
    assert rekey(b'{"card_token":"ct_a","x":1}', "ct_a", "ct_b") == b'{"card_token":"ct_b","x":1}'
    with pytest.raises(ValueError, match="occurs 0 times"):
        rekey(b'{"card_token":"ct_a"}', "ct_z", "ct_b")
    with pytest.raises(ValueError, match="occurs 2 times"):
        rekey(b'{"card_token":"ct_a","last":"ct_a"}', "ct_a", "ct_b")


def test_asking_for_more_cards_than_the_population_has_fails_with_the_counts() -> None:
    rng = np.random.default_rng(3)
    pop = build_population(rng, KEY, PopulationConfig(cards=50))
    models = templates(pop, rng, FeatureConfig(), end=END, template_cards=10, history_days=7)
    with pytest.raises(ValueError, match="50 cards, 51"):
        list(card_records(pop, models, 51))


@pytest.mark.parametrize(
    ("cards", "small"), [(1_000_000, 10_000), (100_000, 10_000), (50_000, 5_000), (15, 1), (2, 1)]
)
def test_the_small_table_is_10k_cards_or_a_tenth(cards: int, small: int) -> None:
    assert baseline_cards(cards) == small


def test_one_card_is_too_few_to_compare() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        baseline_cards(1)


def test_the_report_is_the_child_s_last_prefixed_line() -> None:
    stdout = f'noise\n{REPORT_PREFIX}{{"cards": 1}}\nmore noise\n{REPORT_PREFIX}{{"cards": 2}}\n'
    assert parse_report(stdout) == {"cards": 2}
    with pytest.raises(ValueError, match="no BENCH_CATCHUP line"):
        parse_report("Traceback ...\n")


def test_per_card_cost_cancels_what_both_sizes_pay() -> None:
    fixed, each = 5_000_000, 900
    assert per_card(fixed + each * 1_000_000, fixed + each * 10_000, 1_000_000, 10_000) == each
    assert math.isnan(per_card(10.0, 10.0, 5, 5))


def test_held_bytes_counts_the_dict_and_every_part_of_every_entry() -> None:
    empty: dict[str, tuple[float, float, bytes]] = {}
    one = {"ct_a": (1.0, 2.0, b"x" * 100)}
    key, entry = next(iter(one.items()))
    parts = sys.getsizeof(key) + sys.getsizeof(entry) + sum(sys.getsizeof(x) for x in entry)
    assert held_bytes(empty) == sys.getsizeof(empty)
    assert held_bytes(one) == sys.getsizeof(one) + parts
    assert held_bytes(one) > parts > 100


def test_lookup_timing_reads_every_token_once_per_round() -> None:
    seen: list[str] = []
    rounds = lookup_us(seen.append, ["a", "b", "c"], rounds=4)
    assert len(rounds) == 4
    assert seen == ["a", "b", "c"] * 4
