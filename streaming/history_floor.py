"""The history driver's floor: when a starved history driver gets the hot driver's CPU priority back.

On a local master the history queries run in a child driver at a lower CPU priority
(StreamSettings.history_nice), so the hot query gets the cores first. Under full load that is all
it gets: in a 10-minute soak at 2,000 swipes/s on 2 cores, at nice 10 it finished no batch at all.
So the parent watches the child's relayed progress and, once the history side has finished no batch
for `history_starved_s`, runs it at its own priority until a batch leaves no backlog:

    nice   history_nice ──────┐                   ┌───────── history_nice
                              │ starved_s without │
    base (the parent's)       └── a batch ────────┴ a batch that caught up
                              t0                  t1

This module decides (pure: a clock reading and the relayed progress in, a nice level out);
streaming.history_driver applies it to the child's processes and threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from streaming.settings import StreamSettings

NICEST = 19  # the lowest CPU priority Linux has


def caught_up(progress: Mapping[str, Any], max_offsets_per_trigger: int | None) -> bool:
    """Whether a finished batch left no backlog: every source read up to the latest offsets it saw
    (Kafka's `maxOffsetsBehindLatest` is 0, and no source stopped at `maxOffsetsPerTrigger`).

    Without a cap a batch reads all there is, so the first batch after a starved stretch drains the
    backlog in one go; with FRAUDSTREAM_MAX_OFFSETS_PER_TRIGGER it takes as many capped batches as
    the backlog needs, each behind until the last.
    """
    for source in progress.get("sources") or []:
        behind = (source.get("metrics") or {}).get("maxOffsetsBehindLatest")
        if behind is not None:
            if float(behind) > 0:
                return False
        elif max_offsets_per_trigger and int(source.get("numInputRows") or 0) >= max_offsets_per_trigger:
            return False  # a source without the metric: a batch at the cap may have left more
    return True


def floor_nice(
    now: float,
    last_batch_at: float,
    is_caught_up: bool,
    current_nice: int,
    settings: StreamSettings,
    base: int = 0,
) -> int:
    """The nice level the history driver should run at.

    `last_batch_at`: when the history side last finished a batch (or, idle, found nothing to do),
    on the clock of `now`; `is_caught_up`: whether that batch left no backlog; `base`: the priority
    of the driver that started it (the floor), whose own nice plus `history_nice` is the usual level.
    Starved (no batch for longer than `history_starved_s`): the floor. Floored: stay there until a
    batch has caught up. `history_starved_s` 0 turns the floor off.
    """
    usual = min(base + settings.history_nice, NICEST)
    if not settings.history_starved_s or usual == base:
        return usual
    if now - last_batch_at > settings.history_starved_s:
        return base
    if current_nice <= base and not is_caught_up:
        return base
    return usual


class HistoryProgress:
    """What the parent knows of the history side from the child's relay: per query, when its last
    batch finished (on the parent's clock, when the progress arrived) and whether it caught up.

    A query that is idle (its sources hold nothing new) counts as a caught-up batch: it is not
    starved, it has nothing to do. The relay thread writes, the floor's thread reads.
    """

    def __init__(self, queries: Iterable[str], started_at: float, settings: StreamSettings) -> None:
        self._batch_at = dict.fromkeys(queries, started_at)
        self._caught_up = dict.fromkeys(self._batch_at, False)
        self._batch_id: dict[str, int] = {}
        self._max_offsets = settings.max_offsets_per_trigger
        self._lock = threading.Lock()

    def batch(self, progress: Mapping[str, Any], now: float) -> None:
        query = progress.get("name")
        batch_id = int(progress.get("batchId", -1))
        with self._lock:
            if query not in self._batch_at or batch_id <= self._batch_id.get(query, -1):
                return
            self._batch_id[query] = batch_id
            self._batch_at[query] = now
            self._caught_up[query] = caught_up(progress, self._max_offsets)

    def idle(self, query: str, now: float) -> None:
        with self._lock:
            if query in self._batch_at:
                self._batch_at[query] = now
                self._caught_up[query] = True

    def last_batch_at(self) -> float:
        """When the stalest history query last finished a batch: one starved query starves the side."""
        with self._lock:
            return min(self._batch_at.values())

    def caught_up(self) -> bool:
        with self._lock:
            return all(self._caught_up.values())
