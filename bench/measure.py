"""Pure measurement helpers: percentiles, ratios, wrk output, Kafka offsets and the keep-up rule."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION = re.compile(r"^([0-9.]+)(us|ms|s|m)$")
_DONE_PREFIX = "BENCH_WRK "


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of `values`; NaN for no values.

    Nearest rank, not interpolation: every reported figure is a latency that was actually seen.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def ratio(measured: float, baseline: float) -> float:
    """measured / baseline, NaN when the baseline is not a positive number."""
    return measured / baseline if baseline > 0 else math.nan


def duration_ms(text: str) -> float:
    """wrk's `1.23ms`, `850.00us`, `1.02s`, `1.00m` in milliseconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles in ms, and how many answers were not 2xx/3xx."""

    connections: int
    requests: int
    duration_s: float
    requests_per_s: float
    latency_ms: dict[float, float] = field(default_factory=dict)  # percentile -> ms
    non_2xx: int = 0
    socket_errors: int = 0

    def p(self, q: float) -> float:
        return self.latency_ms.get(q, math.nan)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "latency_ms": {f"p{q:g}": round(v, 3) for q, v in sorted(self.latency_ms.items())},
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
        }


def parse_wrk(stdout: str) -> WrkResult:
    """wrk's report. Uses the exact line our Lua `done()` prints when present, else the text summary.

    The text summary rounds latencies to two decimals of its unit and has only the percentiles of
    `--latency`; the `done()` line carries microseconds straight from wrk's histogram.
    """
    for line in stdout.splitlines():
        if line.startswith(_DONE_PREFIX):
            return _parse_done(json.loads(line[len(_DONE_PREFIX) :]))
    return _parse_text(stdout)


def _parse_done(d: Mapping[str, Any]) -> WrkResult:
    errors = d.get("errors", {})
    duration_s = d["duration_us"] / 1e6
    return WrkResult(
        connections=int(d.get("connections", 0)),
        requests=int(d["requests"]),
        duration_s=duration_s,
        requests_per_s=d["requests"] / duration_s if duration_s > 0 else 0.0,
        latency_ms={float(q): us / 1000.0 for q, us in d.get("latency_us", {}).items()},
        non_2xx=int(errors.get("status", 0)),
        socket_errors=sum(int(errors.get(k, 0)) for k in ("connect", "read", "write", "timeout")),
    )


def _parse_text(stdout: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", stdout, re.M)
    total = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+),", stdout, re.M)
    conns = re.search(r"(\d+) threads and (\d+) connections", stdout)
    if rps is None or total is None:
        raise ValueError("wrk output has no `Requests/sec` or `N requests in T` line; did wrk fail?")
    latency = {
        float(m.group(1)): duration_ms(m.group(2))
        for m in re.finditer(r"^\s+([0-9.]+)%\s+([0-9.]+(?:us|ms|s|m))\s*$", stdout, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", stdout)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout)
    return WrkResult(
        connections=int(conns.group(2)) if conns else 0,
        requests=int(total.group(1)),
        duration_s=duration_ms(total.group(2)) / 1000.0,
        requests_per_s=float(rps.group(1)),
        latency_ms=latency,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sockets.groups()) if sockets else 0,
    )


def offsets_total(end_offset: Mapping[str, Any] | str | None, topic: str) -> int:
    """Sum over partitions of a Spark Kafka source offset (`{"topic": {"0": 12, "1": 7}}`, or its JSON)."""
    if end_offset is None:
        return 0
    parsed = json.loads(end_offset) if isinstance(end_offset, str) else end_offset
    return sum(int(v) for v in parsed.get(topic, {}).values())


def settled_lag(commits: Sequence[tuple[float, int]], t0: float, t1: float) -> int | None:
    """The smallest backlog seen right after a micro-batch committed within [t0, t1]; None if none did.

    Backlog saw-tooths with the micro-batches (it grows while a batch runs and drops when it
    commits), so only the values at commits are comparable: the swipes that arrived while the
    batch ran, plus whatever the job has not absorbed.
    """
    inside = [lag for t, lag in commits if t0 <= t <= t1]
    return min(inside) if inside else None


def kept_up(
    commits: Sequence[tuple[float, int]],
    start: float,
    end: float,
    rate: float,
    *,
    slack_s: float = 2.0,
    max_lag_s: float = 15.0,
) -> tuple[bool, int | None, int | None]:
    """Did the job keep up with `rate` over [start, end]? Returns (verdict, backlog mid-step, at the end).

    The first third of the step is the transient. A job short of capacity falls behind by
    (rate - capacity) per second, so its settled backlog grows from the middle third to the last
    one. It kept up when that growth is at most `slack_s` seconds of swipes (the thirds of a 30 s
    step are 10 s apart, so this catches a job below ~80 % of the rate), the final backlog is under
    `max_lag_s` seconds of swipes, and a batch committed in both thirds (a batch longer than that
    is not real time).
    """
    third = (end - start) / 3
    mid = settled_lag(commits, start + third, start + 2 * third)
    late = settled_lag(commits, start + 2 * third, end)
    if mid is None or late is None:
        return False, mid, late
    ok = late - mid <= rate * slack_s and late <= rate * max_lag_s
    return ok, mid, late
