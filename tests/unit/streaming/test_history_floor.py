"""The history driver's floor: when a starved history side gets the hot driver's priority back."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from streaming.history_floor import HistoryProgress, caught_up, floor_nice
from streaming.settings import StreamSettings

HISTORY = ("history", "sessions", "merchant_features")


def settings(**override: Any) -> StreamSettings:
    return StreamSettings(_env_file=None, **override)  # type: ignore[call-arg]


# history_nice 10, history_starved_s 300, the parent at nice 0:
#
#   t          0 ─────────── 300 ─┬─ 301 ───── batch (backlog) ── batch (caught up) ──
#   nice      10  10  10  10  10  │   0   0   0     0                  10
#                                 starved
@pytest.mark.parametrize(
    ("now", "last_batch_at", "is_caught_up", "current", "expected"),
    [
        (100.0, 0.0, False, 10, 10),  # no batch yet, not for long
        (300.0, 0.0, False, 10, 10),  # exactly the limit: not yet
        (301.0, 0.0, False, 10, 0),  # starved: the floor
        (301.0, 0.0, True, 10, 0),  # an old batch that caught up does not count
        (305.0, 0.0, True, 0, 0),  # floored and still starved: stay
        (400.0, 390.0, False, 0, 0),  # a batch that read the backlog and took long: stay
        (420.0, 415.0, True, 0, 10),  # a batch that caught up: back to history_nice
        (420.0, 415.0, False, 10, 10),  # batches finish, behind: behind is not starved
        (420.0, 415.0, True, 10, 10),
    ],
)
def test_the_floor_lifts_a_starved_history_side_until_a_batch_catches_up(
    now: float, last_batch_at: float, is_caught_up: bool, current: int, expected: int
) -> None:
    assert floor_nice(now, last_batch_at, is_caught_up, current, settings()) == expected


@pytest.mark.parametrize(
    ("override", "base", "current", "expected"),
    [
        ({"history_starved_s": 0}, 0, 10, 10),  # off: never lifted
        ({"history_starved_s": 0}, 0, 0, 10),  # off, after a floor: back to the usual level
        ({"history_nice": 0}, 0, 0, 0),  # nothing to lift
        ({}, 5, 15, 5),  # a job started at nice 5: the floor is its level, not 0
        ({}, 12, 19, 12),  # 12 + 10 is past 19, the lowest priority there is
        ({"history_nice": 3}, 0, 3, 0),
    ],
)
def test_the_floor_is_the_parents_level_and_can_be_turned_off(
    override: dict[str, Any], base: int, current: int, expected: int
) -> None:
    starved_at, last_batch_at = 1000.0, 0.0
    got = floor_nice(starved_at, last_batch_at, False, current, settings(**override), base=base)
    assert got == expected


def source(behind: str | None = "0", rows: int = 100) -> dict[str, Any]:
    metrics = {} if behind is None else {"maxOffsetsBehindLatest": behind, "avgOffsetsBehindLatest": behind}
    return {"description": "KafkaV2[Subscribe[swipes]]", "numInputRows": rows, "metrics": metrics}


@pytest.mark.parametrize(
    ("progress", "max_offsets", "expected"),
    [
        ({"batchDuration": 8000, "sources": [source()]}, None, True),
        ({"batchDuration": 90000, "sources": [source()]}, None, True),  # long, but it read it all
        ({"batchDuration": 8000, "sources": [source(), source("1200")]}, None, False),  # a source behind
        ({"batchDuration": 8000, "sources": [source("300", rows=5000)]}, 5000, False),  # stopped at the cap
        ({"batchDuration": 8000, "sources": [source("0", rows=5000)]}, 5000, True),  # exactly all there was
        ({"batchDuration": 8000, "sources": [source(None, rows=5000)]}, 5000, False),  # no metric: maybe more
        ({"batchDuration": 8000, "sources": [source(None, rows=4999)]}, 5000, True),
        ({"batchDuration": 8000, "sources": [source(None, rows=10**6)]}, None, True),  # no cap, no metric
        ({"batchDuration": 8000}, None, True),
    ],
)
def test_a_batch_caught_up_when_every_source_read_to_the_latest_offsets(
    progress: dict[str, Any], max_offsets: int | None, expected: bool
) -> None:
    assert caught_up(progress, max_offsets) is expected


def batch(query: str, batch_id: int, behind: str = "0", duration_ms: int = 5000) -> dict[str, Any]:
    return {"name": query, "batchId": batch_id, "batchDuration": duration_ms, "sources": [source(behind)]}


def test_the_history_side_is_as_fresh_as_its_stalest_query_and_caught_up_when_all_are() -> None:
    progress = HistoryProgress(HISTORY, started_at=0.0, settings=settings())
    assert (progress.last_batch_at(), progress.caught_up()) == (0.0, False)
    progress.batch(batch("history", 0), now=50.0)
    progress.batch(batch("sessions", 0), now=60.0)
    assert progress.last_batch_at() == 0.0, "merchant_features has finished nothing yet"
    progress.batch(batch("merchant_features", 0, behind="900"), now=70.0)
    assert (progress.last_batch_at(), progress.caught_up()) == (50.0, False)
    progress.batch(batch("merchant_features", 1), now=100.0)
    assert (progress.last_batch_at(), progress.caught_up()) == (50.0, True)
    # A progress seen again (same batch id) is no new batch; another query's is ignored.
    progress.batch(batch("history", 0), now=200.0)
    progress.batch(batch("card_tiles", 7), now=200.0)
    assert progress.last_batch_at() == 50.0
    # Idle (nothing new to read) is not starved.
    progress.idle("history", now=250.0)
    progress.idle("card_tiles", now=250.0)
    assert (progress.last_batch_at(), progress.caught_up()) == (60.0, True)


def test_history_starved_s_is_zero_or_longer_than_a_trigger_and_an_idle_report() -> None:
    assert settings().history_starved_s == 300
    assert settings(history_starved_s=0).history_starved_s == 0
    assert settings(history_starved_s=41).history_starved_s == 41  # 30 s trigger + 10 s idle report
    for bad in (-1, 40, 30, 5):
        with pytest.raises(ValidationError, match="FRAUDSTREAM_HISTORY_STARVED_S=300"):
            settings(history_starved_s=bad)
    with pytest.raises(ValidationError, match="plus Spark's 10 s between idle reports \\(70 s\\)"):
        settings(history_trigger_s=60, history_starved_s=70)
    assert settings(history_trigger_s=2, history_starved_s=12.5).history_starved_s == 12.5
