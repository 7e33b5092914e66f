"""The stream bench's view of the job: each query's backlog at its commits, and the verdict per step."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from bench.measure import kept_up, offsets_total
from bench.stream_feed import SwipeFeed

SAMPLE_EVERY_S = 0.5
HOT_QUERY = "card_tiles"  # streaming.job.QUERY_TILES, without importing pyspark here


@dataclass
class Step:
    rate: float
    sent: int
    seconds: float
    kept_up: bool
    limiting_query: str
    lag_mid: int | None  # settled backlog of that query in the step's middle third, swipes
    lag_end: int | None  # ... and in its last third
    batches: int  # that query's micro-batches that finished in the step
    mean_batch_s: float | None
    processed_per_s: float  # that query's rows / seconds spent in its batches during the step
    hot_kept_up: bool = False  # card_tiles alone kept up (the history queries may lag behind it)


class RelayedQuery:
    """A query of the job's history driver (another process), seen through its relayed progress."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lastProgress: dict[str, Any] | None = None


def relayed_queries(names: tuple[str, ...]) -> tuple[list[RelayedQuery], Any]:
    """Stand-ins for the child driver's queries, and the `on_progress` that keeps them current."""
    queries = {name: RelayedQuery(name) for name in names}

    def on_progress(progress: dict[str, Any]) -> None:
        if progress.get("name") in queries:
            queries[progress["name"]].lastProgress = progress

    return list(queries.values()), on_progress


class Lag:
    """Each query's backlog (swipes sent minus the end offset of its last finished batch) at commits."""

    def __init__(self, queries: list[Any], topic: str, feed: SwipeFeed) -> None:
        self.queries, self.topic, self.feed = queries, topic, feed
        self.commits: dict[str, list[tuple[float, int]]] = {q.name: [] for q in queries}
        self.batches: dict[str, list[dict[str, Any]]] = {q.name: [] for q in queries}
        self._seen: dict[str, int] = {}

    def sample(self) -> dict[str, int]:
        """Poll every query's last progress; a new batch id is a commit, recorded with its backlog."""
        now, lags = time.perf_counter(), {}
        for q in self.queries:
            progress = q.lastProgress
            # A query may read more than one topic (merchant_features reads labels too): count the swipes.
            done = (
                sum(offsets_total(src["endOffset"], self.topic) for src in progress["sources"])
                if progress
                else 0
            )
            lags[q.name] = self.feed.sent - done
            if progress and self._seen.get(q.name) != progress["batchId"]:
                self._seen[q.name] = progress["batchId"]
                self.commits[q.name].append((now, lags[q.name]))
                self.batches[q.name].append(
                    {
                        "t": now,
                        "rows": int(progress["numInputRows"]),
                        "duration_ms": int(progress["durationMs"].get("triggerExecution", 0)),
                        "add_batch_ms": int(progress["durationMs"].get("addBatch", 0)),
                        # Where the batch's time went: Spark's phases plus the state stores' commits.
                        "phases_ms": _phases(progress),
                    }
                )
        return lags

    def pace(self, rate: float, seconds: float) -> tuple[float, float]:
        """Feed `rate` swipes/s for `seconds`, sampling lag; returns the (start, end) perf_counter times."""
        start, already, next_sample = time.perf_counter(), self.feed.sent, 0.0
        while (elapsed := time.perf_counter() - start) < seconds:
            self.feed.catch_up(rate, start, already)
            if elapsed >= next_sample:
                self.sample()
                next_sample += SAMPLE_EVERY_S
            time.sleep(0.002)
        return start, time.perf_counter()

    def drain(self, timeout_s: float, below: int) -> bool:
        """Wait without sending until every query's backlog is under `below` swipes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if max(self.sample().values()) <= below:
                return True
            time.sleep(SAMPLE_EVERY_S)
        return False

    def judge(self, rate: float, start: float, end: float, sent: int) -> Step:
        # Only growth counts here: how stale the features get is the freshness phase's question.
        verdicts = {
            name: kept_up(commits, start, end, rate, max_lag_s=math.inf)
            for name, commits in self.commits.items()
        }

        def badness(name: str) -> float:
            ok, mid, late = verdicts[name]
            return (0 if ok else 1e12) + (late if late is not None else 1e11) - (mid or 0)

        worst = max(verdicts, key=badness)
        inside = [b for b in self.batches[worst] if start <= b["t"] <= end]
        rows = sum(b["rows"] for b in inside)
        busy_s = sum(b["duration_ms"] for b in inside) / 1000
        return Step(
            rate=rate,
            sent=sent,
            seconds=round(end - start, 2),
            kept_up=all(v[0] for v in verdicts.values()),
            limiting_query=worst,
            lag_mid=verdicts[worst][1],
            lag_end=verdicts[worst][2],
            batches=len(inside),
            mean_batch_s=round(busy_s / len(inside), 2) if inside else None,
            processed_per_s=round(rows / busy_s, 1) if busy_s > 0 else 0.0,
            hot_kept_up=verdicts.get(HOT_QUERY, (False,))[0],
        )


def _phases(progress: dict[str, Any]) -> dict[str, int]:
    """Where a batch's time went: Spark's durationMs phases plus its state stores' commit time."""
    operators = progress.get("stateOperators") or []
    phases = {k: int(v) for k, v in progress["durationMs"].items()}
    phases["stateCommit"] = sum(int(op.get("commitTimeMs") or 0) for op in operators)
    return phases
