"""The catch-up bench's child: one fresh process fills an online feature table as the scorer does.

`python -m bench.catchup_table BOOTSTRAP TOPIC TOKENS_FILE` wires `FeatureFollower` and
`OnlineFeatureTable` exactly as `scoring.serving.app.serve` does, times the catch-up until `ready`, reads
the process's resident memory around it, times `table.get` (what the scorer calls per request) on
the cards of TOKENS_FILE, and prints one `BENCH_CATCHUP {json}` line.

Memory is read from /proc/self/status: `start` after every import, `ready` the moment the follower
is ready (consumer still running: what a replica holds), `held` after the follower stopped, a
garbage collection and glibc's `malloc_trim` (the table alone, without librdkafka's fetch buffers).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.machine import own_status_bytes
from scoring.serving.online import FeatureFollower, OnlineFeatureTable

REPORT_PREFIX = "BENCH_CATCHUP "
LOOKUP_ROUNDS = 5
READY_TIMEOUT_S = 1800.0


def held_bytes(records: Mapping[str, tuple[float, float, bytes]]) -> int:
    """Bytes of the Python objects a table of (as_of, computed_at, compressed value) entries holds.

    The dict, and per entry its key, tuple, two floats and bytes; what RSS growth is checked against.
    """
    total = sys.getsizeof(records)
    for key, entry in records.items():
        total += sys.getsizeof(key) + sys.getsizeof(entry) + sum(map(sys.getsizeof, entry))
    return total


def lookup_us(get: Callable[[str], Any], tokens: Sequence[str], rounds: int = LOOKUP_ROUNDS) -> list[float]:
    """µs per `get(token)`, averaged over all `tokens`, one figure per round."""
    per_round = []
    for _ in range(rounds):
        started = time.perf_counter()
        for token in tokens:
            get(token)
        per_round.append((time.perf_counter() - started) / max(len(tokens), 1) * 1e6)
    return per_round


def _trim() -> None:
    """Hand freed heap back to the OS, so `held` counts what is in use, not what glibc keeps around."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: measure without trimming
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure(bootstrap: str, topic: str, tokens: Sequence[str]) -> dict[str, Any]:
    gc.collect()
    _trim()
    rss_start = own_status_bytes("VmRSS")
    table = OnlineFeatureTable()
    follower = FeatureFollower(bootstrap, topic, table)  # as scoring.serving.app.serve builds it
    started = time.perf_counter()
    first_record_s = None
    follower.start()
    while not follower.wait_ready(0.02):
        if first_record_s is None and follower.applied:
            first_record_s = time.perf_counter() - started
        if time.perf_counter() - started > READY_TIMEOUT_S:
            break
    ready_s = time.perf_counter() - started
    ready = follower.ready
    rss_ready = own_status_bytes("VmRSS")
    follower.stop()
    gc.collect()
    _trim()
    rss_held = own_status_bytes("VmRSS")
    missing = sum(table.get(t) is None for t in tokens)
    rounds = lookup_us(table.get, tokens)
    return {
        "ready": ready,
        "ready_s": ready_s,
        "first_record_s": first_record_s if first_record_s is not None else ready_s,
        "applied": follower.applied,
        "malformed": follower.malformed,
        "cards": len(table),
        "rss_start": rss_start,
        "rss_ready": rss_ready,
        "rss_held": rss_held,
        "rss_peak": own_status_bytes("VmHWM"),
        # The bench sizes the table's private dict; the scorer never reads it.
        "held_bytes": held_bytes(table._records),
        "lookups": len(tokens),
        "lookup_missing": missing,
        "lookup_us_rounds": rounds,
        "lookup_us": statistics.median(rounds),
    }


def main(argv: Sequence[str]) -> None:
    if len(argv) != 3:
        raise SystemExit("usage: python -m bench.catchup_table BOOTSTRAP TOPIC TOKENS_FILE")
    bootstrap, topic, tokens_file = argv
    tokens = Path(tokens_file).read_text().split()
    print(REPORT_PREFIX + json.dumps(measure(bootstrap, topic, tokens)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
