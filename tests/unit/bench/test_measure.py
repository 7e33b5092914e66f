"""The benchmarks' pure helpers: wrk output, percentiles, ratios and the keep-up rule."""

from __future__ import annotations

import math

import pytest

from bench.measure import (
    duration_ms,
    kept_up,
    offsets_total,
    parse_wrk,
    percentile,
    ratio,
    settled_lag,
)

# What wrk 4.x prints with --latency and a script whose done() writes nothing.
WRK_TEXT = """\
Running 10s test @ http://127.0.0.1:41234/v1/score
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.43ms    2.01ms  48.11ms   88.20%
    Req/Sec     1.54k   120.33     1.80k    71.00%
  Latency Distribution
     50%   10.12ms
     75%   11.02ms
     90%   12.50ms
     99%  850.00us
  30712 requests in 10.01s, 12.34MB read
  Non-2xx or 3xx responses: 7
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:   3068.21
Transfer/sec:      1.23MB
"""

DONE_LINE = (
    'BENCH_WRK {"requests": 20000, "duration_us": 10000000, "errors": {"connect": 0, "read": 1, '
    '"write": 0, "status": 3, "timeout": 2}, "latency_us": {"50": 1234.0, "90": 1500.5, '
    '"99": 2750.0, "99.9": 4000.0, "100": 9000.0}}'
)


def test_parse_wrk_text_summary() -> None:
    result = parse_wrk(WRK_TEXT)

    assert result.connections == 32
    assert result.requests == 30712
    assert result.duration_s == pytest.approx(10.01)
    assert result.requests_per_s == pytest.approx(3068.21)
    assert result.p(50) == pytest.approx(10.12)
    assert result.p(99) == pytest.approx(0.85)  # microseconds converted
    assert result.non_2xx == 7
    assert result.socket_errors == 3


def test_parse_wrk_prefers_the_exact_done_line() -> None:
    result = parse_wrk(WRK_TEXT + DONE_LINE + "\n")

    assert result.requests == 20000
    assert result.requests_per_s == pytest.approx(2000.0)
    assert result.p(50) == pytest.approx(1.234)
    assert result.p(99) == pytest.approx(2.75)
    assert result.p(99.9) == pytest.approx(4.0)
    assert result.non_2xx == 3
    assert result.socket_errors == 3


def test_parse_wrk_without_a_summary_says_so() -> None:
    with pytest.raises(ValueError, match="did wrk fail"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.parametrize(
    ("text", "ms"), [("850.00us", 0.85), ("1.50ms", 1.5), ("2.00s", 2000.0), ("1.00m", 60_000.0)]
)
def test_duration_units(text: str, ms: float) -> None:
    assert duration_ms(text) == pytest.approx(ms)


def test_duration_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        duration_ms("fast")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100

    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0  # unsorted input
    assert math.isnan(percentile([], 50))


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_ratio_against_a_missing_baseline_is_nan() -> None:
    assert ratio(800.0, 1000.0) == pytest.approx(0.8)
    assert math.isnan(ratio(800.0, 0.0))


def test_offsets_total_accepts_spark_json_or_dict() -> None:
    assert offsets_total('{"swipes": {"0": 10, "1": 32}}', "swipes") == 42
    assert offsets_total({"swipes": {"0": 5}}, "swipes") == 5
    assert offsets_total({"other": {"0": 5}}, "swipes") == 0
    assert offsets_total(None, "swipes") == 0


# Backlog right after each commit of a job running 2 s micro-batches over a 30 s step at 1000/s:
#
#   t (s)      0 ... 10 ...... 20 ...... 30
#   thirds     |transient|  mid   |  late  |
#   ok         2000 at every commit             settled backlog flat: kept up
#   short      2000 + 250 per s                 grows 2500 per third: capacity ~75 %
def _commits(growth_per_s: float, every_s: float = 2.0) -> list[tuple[float, int]]:
    return [(t, int(2000 + growth_per_s * t)) for t in (i * every_s for i in range(1, 16))]


def test_settled_lag_is_the_minimum_at_commits_in_the_window() -> None:
    commits = [(1.0, 900), (2.0, 100), (3.0, 700)]

    assert settled_lag(commits, 0, 5) == 100
    assert settled_lag(commits, 30, 40) is None


def test_kept_up_when_the_settled_backlog_does_not_grow() -> None:
    ok, mid, late = kept_up(_commits(0), 0, 30, rate=1000)

    assert ok
    assert (mid, late) == (2000, 2000)


def test_falling_behind_is_caught() -> None:
    ok, mid, late = kept_up(_commits(250), 0, 30, rate=1000)

    assert not ok
    assert (mid, late) == (4500, 7000)  # 2500 more in 10 s: more than 2 s of swipes


def test_a_huge_but_steady_backlog_is_not_keeping_up() -> None:
    steady_but_20s_behind = [(float(t), 20_000) for t in range(1, 31)]

    ok, _, _ = kept_up(steady_but_20s_behind, 0, 30, rate=1000)

    assert not ok


def test_no_commit_in_a_third_is_not_keeping_up() -> None:
    one_slow_batch = [(25.0, 500)]

    assert kept_up(one_slow_batch, 0, 30, rate=1000) == (False, None, 500)
