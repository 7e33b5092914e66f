"""bench scorer: the ratios it reports, against the bare runs' mean, for req/s and for server CPU."""

from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.measure import WrkResult
from bench.scorer import Server, Variant, VariantResult, render, shadow_ratios, summarize


def result(name: str, kind: str, rps: float, cpu_us: float) -> VariantResult:
    run = WrkResult(connections=32, requests=int(rps * 10), duration_s=10.0, requests_per_s=rps)
    return VariantResult(Variant(name, kind), run, run, cpu_us)


def test_ratios_are_against_the_mean_of_the_bare_runs() -> None:
    results = [
        result("scorer", "scorer", 1_500, 600.0),
        result("bare 1", "bare", 2_800, 280.0),
        result("bare 2", "bare", 3_200, 320.0),
    ]
    inputs = SimpleNamespace(cards=10, bodies=20)
    summary = summarize(results, {}, 10.0, 10, inputs, 700)
    scorer = summary["variants"][0]
    assert summary["bare_requests_per_s"] == 3_000 and summary["bare_cpu_us_per_request"] == 300
    assert scorer["ratio_vs_bare"] == 0.5 and scorer["cpu_ratio_vs_bare"] == 0.5
    assert scorer["cpu_us_per_request"] == 600
    render({**summary, "table_cards": 10})  # the table renders with the CPU columns


def test_a_missing_cpu_reading_gives_no_cpu_ratio() -> None:
    results = [result("scorer", "scorer", 1_500, math.nan), result("bare", "bare", 3_000, 300.0)]
    summary = summarize(results, {}, 10.0, 10, SimpleNamespace(cards=10, bodies=20), 700)
    assert math.isnan(summary["variants"][0]["cpu_ratio_vs_bare"])


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_server_cpu_seconds_grow_while_the_process_works() -> None:
    server = Server.__new__(Server)  # this process stands in for the server child
    server.proc = SimpleNamespace(pid=os.getpid())  # type: ignore[assignment]
    before = server.cpu_seconds()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    assert server.cpu_seconds() - before >= 0.1


def test_shadow_ratios_pair_each_shadow_run_with_the_same_scorer_without_one() -> None:
    def run(rps: float, p50: float, p99: float) -> WrkResult:
        return WrkResult(
            connections=4,
            requests=int(rps),
            duration_s=1.0,
            requests_per_s=rps,
            latency_ms={50: p50, 99: p99},
        )

    def variant(kafka: bool, shadow: bool, rps: float, p50: float, p99: float, cpu: float) -> VariantResult:
        return VariantResult(
            Variant("s", "scorer", kafka=kafka, shadow=shadow), run(rps, 0, 0), run(0, p50, p99), cpu
        )

    results = [
        variant(False, False, 2_000, 1.0, 2.0, 400.0),
        variant(False, True, 1_600, 1.1, 3.0, 500.0),
        variant(True, False, 1_000, 2.0, 4.0, 800.0),
        result("bare", "bare", 3_000, 300.0),
    ]
    assert shadow_ratios(results) == [
        {"kafka": False, "p50_ratio": 1.1, "p99_ratio": 1.5, "rps_ratio": 0.8, "cpu_ratio": 1.25}
    ]  # the Kafka pair has no shadow run: no row


@pytest.mark.parametrize("kind", ["auto", "logistic", "gbm"])
def test_the_served_model_and_the_challenger_are_trained_of_the_kind_asked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    from rich.console import Console

    import bench.scorer
    from scoring.serving.settings import ScorerSettings

    asked: list[tuple[str, object]] = []

    def train(models_dir: Path, *_: object, **kwargs: object) -> SimpleNamespace:
        asked.append((models_dir.name, kwargs["kind"]))
        return SimpleNamespace(artifact=SimpleNamespace(version="v", kind="gbm"))

    monkeypatch.setattr(bench.scorer, "train_on_generated", train)
    console = Console(file=io.StringIO())
    bench.scorer._train_models(tmp_path, b"k", ScorerSettings(), console, kind)  # type: ignore[arg-type]
    assert asked == [("models", kind), ("challenger", kind)]
