"""The merge bench's pure parts: the live stream it builds, what it times, and its figures."""

from __future__ import annotations

import math

import pytest

from bench.merge import Feed, build, figures
from bench.merge_records import MergeStream
from streaming.card_state import FeatureConfig, features
from streaming.schema import CardTile, from_kafka


@pytest.fixture(scope="module")
def stream() -> MergeStream:
    return build(cards=60, template_cards=20, history_days=3, rate=20.0, batches=2)


def test_each_batch_publishes_each_changed_tile_once_under_its_own_key(stream: MergeStream) -> None:
    assert stream.cards == 60 and len(stream.batches) == 2
    for batch in [stream.history, *stream.batches]:
        keys = [key for key, _ in batch]
        assert len(keys) == len(set(keys))
        for key, value in batch:
            assert from_kafka(CardTile, value).key.encode() == key
    # 40 swipes a batch, each in a minute, an hour and a day tile: at most 3 tiles a swipe
    assert all(0 < len(b) <= 3 * 40 for b in stream.batches)


def test_the_feed_merges_every_card_as_the_table_would_and_is_repeatable(stream: MergeStream) -> None:
    digests = []
    for per_consume in (False, True):
        feed = Feed(FeatureConfig(), merge_per_consume=per_consume)
        history = feed.run(stream.history, 1.0, check=True)
        live = [feed.run(b, 2.0, check=True) for b in stream.batches]
        digests.append(feed.digest.hexdigest())
    assert digests[0] == digests[1]  # merged less often, into the same records
    assert history["records"] == len(stream.history) and history["merges"] >= len(feed.table)
    assert all(f["merges"] > 0 for f in live)
    token, state = next(iter(feed.table._tiles.items()))
    got = feed.table.get(token)
    assert got is not None
    assert got == features(token, state, FeatureConfig(), got.computed_at)


@pytest.mark.parametrize(
    ("run", "baseline_s", "expected"),
    [
        (
            {"records": 1000, "merges": 200, "take_s": 0.02, "merge_s": 0.04},
            0.01,
            {"take_us_per_record": 20.0, "merge_us_per_card": 200.0, "us_per_record": 60.0, "ratio": 6.0},
        ),
        (
            {"records": 0, "merges": 0, "take_s": 0.0, "merge_s": 0.0},
            0.0,
            {
                "take_us_per_record": math.nan,
                "merge_us_per_card": math.nan,
                "us_per_record": math.nan,
                "ratio": math.nan,
            },
        ),
    ],
)
def test_figures(run: dict[str, float], baseline_s: float, expected: dict[str, float]) -> None:
    got = figures(run, baseline_s)
    got["ratio"] = got["ratio_vs_json_loads"]
    for key, want in expected.items():
        assert (math.isnan(got[key]) and math.isnan(want)) or got[key] == pytest.approx(want), key
