"""The history query's starting offsets: the job's choice for swipes and labels, earliest for the trails."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from streaming.history import starting_offsets
from streaming.settings import StreamSettings


def settings(offsets: str) -> StreamSettings:
    return StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        starting_offsets=offsets,
        topic_swipes="sw",
        topic_labels="lb",
        topic_decisions="dc",
        topic_reviews="rv",
    )


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ("earliest", "earliest"),
        ('{"sw":{"0":5}}', '{"sw":{"0":5}}'),  # the user's own JSON, passed on
    ],
)
def test_offsets_spark_takes_as_they_are(offsets: str, expected: str) -> None:
    assert starting_offsets(settings(offsets), {}) == expected


def test_latest_is_spelled_out_per_partition_with_decisions_and_reviews_from_the_earliest() -> None:
    got = json.loads(starting_offsets(settings("latest"), {"sw": 2, "lb": 1, "dc": 3, "rv": 2}))
    assert got == {
        "sw": {"0": -1, "1": -1},
        "lb": {"0": -1},
        "dc": {"0": -2, "1": -2, "2": -2},
        "rv": {"0": -2, "1": -2},
    }


@pytest.mark.parametrize("offsets", ["newest", "-1", ""])
def test_an_unknown_starting_point_is_refused_with_the_variable_to_set(offsets: str) -> None:
    with pytest.raises(ValidationError, match="FRAUDSTREAM_STARTING_OFFSETS=latest"):
        settings(offsets)
