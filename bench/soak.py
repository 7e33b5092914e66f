"""`fraudstream-bench soak`: the whole stack under steady load; errors, RSS over time, state size.

The stack is the real one (`services.stack.control.up`: embedded broker, feature job, scorer) in a temporary
state folder on free ports. One thread publishes swipes at `rate` straight to `swipes` (traffic
authorized elsewhere), another sends `score_rate` swipes/s to the scorer, as a card network would.
Every `sample_s` the sampler records each process tree's resident memory and the feature query's
state-store size on disk. The baseline is the first sample after warm-up: the summary prints each
figure's ratio last / first, so a leak shows as a ratio that keeps climbing with the duration.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.jvm_heap import NO_HEAP, tree_heap, tree_live_heap_mb
from bench.kafka import free_port
from bench.machine import describe, status_bytes, summary
from bench.output import finish, fmt, table
from foundation.processes import process_tree
from foundation.settings import StackSettings
from services.generator.population import Population, PopulationConfig, build_population
from services.generator.publish import SwipePublisher, replace_time
from services.generator.traffic import background
from services.stack import control as stack
from services.training.trainer import train_on_generated
from streaming.card_state import FeatureConfig


def tree_rss_bytes(pid: int, proc: Path = Path("/proc")) -> int:
    """Resident memory of `pid` and all its descendants (the job's JVM is a child of its Python)."""
    total = 0
    for p in process_tree(pid, proc):
        try:
            total += status_bytes((proc / str(p) / "status").read_text(), "VmRSS")
        except OSError:
            continue  # gone since the walk, or never there
    return total


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def ratio(first: float, last: float) -> float:
    return last / first if first else float("nan")


@dataclass
class _Load:
    """The two load threads' work: swipes published at `rate`, swipes scored at `score_rate`."""

    pop: Population
    settings: StackSettings
    scorer_address: str
    rate: float
    score_rate: float
    stop: threading.Event = field(default_factory=threading.Event)
    counts: dict[str, int] = field(
        default_factory=lambda: {"published": 0, "scored": 0, "score_errors": 0, "publish_errors": 0}
    )

    def publish(self) -> None:
        publisher = SwipePublisher(self.settings.bootstrap, self.settings.topic_swipes)
        swipes = background(self.pop, datetime.now(UTC) - timedelta(days=1), np.random.default_rng(4))
        next_at = time.monotonic()
        for swipe in swipes:
            if self.stop.is_set():
                break
            publisher.publish(replace_time(swipe, datetime.now(UTC)))
            self.counts["published"] += 1
            next_at += 1 / self.rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        publisher.flush(30)
        self.counts["publish_errors"] = publisher.failed

    def score(self) -> None:
        swipes = background(
            self.pop, datetime.now(UTC) - timedelta(days=1), np.random.default_rng(5), id_prefix="soak-"
        )
        next_at = time.monotonic()
        with httpx.Client(timeout=10.0) as client:
            for swipe in swipes:
                if self.stop.is_set():
                    break
                body = replace_time(swipe, datetime.now(UTC)).model_dump(mode="json", exclude={"decision"})
                try:
                    ok = client.post(f"{self.scorer_address}/v1/score", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.counts["scored"] += 1
                self.counts["score_errors"] += not ok
                next_at += 1 / self.score_rate
                time.sleep(max(0.0, next_at - time.monotonic()))


def _tiles_state(workdir: Path) -> Path:
    """The hot query's state store folder under the stack's checkpoints, for the tile engine it runs."""
    from streaming.job import tiles_checkpoint
    from streaming.settings import StreamSettings

    settings = StreamSettings(checkpoint_root=str(workdir / "checkpoints"))
    return Path(tiles_checkpoint(settings)) / "state"


def _sample(started: float, info: stack.StackInfo, state: Path, counts: dict[str, int]) -> dict[str, float]:
    """Each process tree's resident memory, the job's JVM heaps, the feature state on disk and the
    counts so far (the heap figures are 0 without `jstat`)."""
    job_rss = tree_rss_bytes(info.stream.pid or 0) / 2**20
    heap = tree_heap(info.stream.pid or 0) or NO_HEAP
    return {
        "t_s": round(time.monotonic() - started, 1),
        "scorer_rss_mb": tree_rss_bytes(info.scorer.pid or 0) / 2**20,
        "job_rss_mb": job_rss,
        # the job's JVMs (both drivers): the heap they committed, its use, and the RSS besides it
        "job_heap_committed_mb": heap.committed_mb,
        "job_heap_used_mb": heap.used_mb,
        "job_old_used_mb": heap.old_used_mb,
        "job_rss_beside_heap_mb": job_rss - heap.committed_mb,
        "job_full_gcs": float(heap.full_gcs),
        "state_mb": dir_bytes(state) / 2**20,
        **{k: float(v) for k, v in counts.items()},
    }


def _live_heap(console: Console, info: stack.StackInfo, when: str) -> float | None:
    """The job's JVMs' live heap (each after a forced full collection), printed."""
    mb = tree_live_heap_mb(info.stream.pid or 0)
    console.print(f"job JVMs' live heap {when}: " + (f"{mb:.0f} MB" if mb is not None else "no jcmd on PATH"))
    return mb


def _live_figures(live: dict[str, float | None]) -> dict[str, float | None]:
    half, end = live.get("half_way"), live.get("end")
    return {
        "job_live_heap_half_way_mb": half,
        "job_live_heap_end_mb": end,
        "job_live_heap_second_half_ratio": ratio(half, end) if half is not None and end is not None else None,
    }


def _sample_line(sample: dict[str, float], counts: dict[str, int]) -> str:
    return (
        f"{sample['t_s']:>7.0f} s  scorer {sample['scorer_rss_mb']:.0f} MB"
        f"  job {sample['job_rss_mb']:.0f} MB (heap {sample['job_heap_committed_mb']:.0f} committed,"
        f" old {sample['job_old_used_mb']:.0f} used)  state {sample['state_mb']:.1f} MB"
        f"  published {counts['published']}  scored {counts['scored']}"
        f"  errors {counts['score_errors']}"
    )


def second_half_start(samples: list[dict[str, float]]) -> dict[str, float]:
    """The first sample at or past half the run's time: the baseline of the second half."""
    half = samples[-1]["t_s"] / 2
    return next(s for s in samples if s["t_s"] >= half)


def _summary(
    machine: dict[str, Any], minutes: float, load: _Load, samples: list[dict[str, float]]
) -> dict[str, Any]:
    """The run as the bench's JSON: each figure's last sample against its first."""
    first, last, counts = samples[0], samples[-1], load.counts
    middle = second_half_start(samples)
    return {
        "machine": machine,
        "minutes": minutes,
        "rate": load.rate,
        "score_rate": load.score_rate,
        "samples": samples,
        "published": counts["published"],
        "scored": counts["scored"],
        "score_errors": counts["score_errors"],
        "publish_errors": counts["publish_errors"],
        "scorer_rss_ratio": ratio(first["scorer_rss_mb"], last["scorer_rss_mb"]),
        "job_rss_ratio": ratio(first["job_rss_mb"], last["job_rss_mb"]),
        "state_ratio": ratio(first["state_mb"], last["state_mb"]),
        "job_heap_committed_ratio": ratio(first["job_heap_committed_mb"], last["job_heap_committed_mb"]),
        "job_old_used_ratio": ratio(first["job_old_used_mb"], last["job_old_used_mb"]),
        "job_rss_beside_heap_ratio": ratio(first["job_rss_beside_heap_mb"], last["job_rss_beside_heap_mb"]),
        "job_heap_committed_second_half_ratio": ratio(
            middle["job_heap_committed_mb"], last["job_heap_committed_mb"]
        ),
        "job_rss_beside_heap_second_half_ratio": ratio(
            middle["job_rss_beside_heap_mb"], last["job_rss_beside_heap_mb"]
        ),
        # the figure: flat in the second half, once the JVM's heap and caches have grown
        "job_rss_second_half_ratio": ratio(middle["job_rss_mb"], last["job_rss_mb"]),
        "scorer_rss_second_half_ratio": ratio(middle["scorer_rss_mb"], last["scorer_rss_mb"]),
        "loadavg_after": describe()["loadavg"],
    }


def _ratio_table(result: dict[str, Any]) -> Table:
    first, last = result["samples"][0], result["samples"][-1]
    middle = second_half_start(result["samples"])
    return table(
        f"soak: {result['minutes']:g} min, {result['rate']:g} swipes/s published, "
        f"{result['score_rate']:g}/s scored",
        ["figure", "first sample", "half way", "last sample", "last / first", "last / half way"],
        [
            [
                name,
                fmt(first[key], 1),
                fmt(middle[key], 1),
                fmt(last[key], 1),
                fmt(result[f"{ratio_key}_ratio"], 2),
                fmt(ratio(middle[key], last[key]), 2),
            ]
            for name, key, ratio_key in (
                ("scorer RSS (MB)", "scorer_rss_mb", "scorer_rss"),
                ("job RSS incl. JVM (MB)", "job_rss_mb", "job_rss"),
                ("job JVM heap committed (MB)", "job_heap_committed_mb", "job_heap_committed"),
                ("job JVM old gen used (MB)", "job_old_used_mb", "job_old_used"),
                ("job RSS beside the heap (MB)", "job_rss_beside_heap_mb", "job_rss_beside_heap"),
                ("feature state on disk (MB)", "state_mb", "state"),
            )
        ],
    )


def run(
    minutes: float = 10.0,
    rate: float = 50.0,
    score_rate: float = 10.0,
    sample_s: float = 15.0,
    cards: int = 2_000,
    json_path: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    console = console or Console()
    machine = describe()
    console.print(summary(machine))
    workdir = Path(tempfile.mkdtemp(prefix="fraudstream-soak-"))
    env = {
        "FRAUDSTREAM_STATE_DIR": str(workdir),
        "FRAUDSTREAM_EMBEDDED_KAFKA_PORT": str(free_port()),
    }
    os.environ.update(env)
    settings = StackSettings()
    key = settings.token_key.get_secret_value().encode()
    train_on_generated(workdir / "models", key, FeatureConfig(), cards=500, days=4, per_scenario=5)
    console.print(f"starting the stack in {workdir}")
    info = stack.up(settings, scorer_port=free_port(), metrics_port=free_port())
    pop = build_population(np.random.default_rng(3), key, PopulationConfig(cards=cards))
    load = _Load(pop, settings, info.scorer.address, rate, score_rate)
    threads = [
        threading.Thread(target=load.publish, daemon=True),
        threading.Thread(target=load.score, daemon=True),
    ]
    samples: list[dict[str, float]] = []
    started = time.monotonic()
    try:
        for t in threads:
            t.start()
        state = _tiles_state(workdir)
        live: dict[str, float | None] = {}
        while time.monotonic() - started < minutes * 60:
            time.sleep(sample_s)
            samples.append(_sample(started, info, state, load.counts))
            console.print(_sample_line(samples[-1], load.counts))
            if "half_way" not in live and time.monotonic() - started >= minutes * 30:
                live["half_way"] = _live_heap(console, info, "half way")
        live["end"] = _live_heap(console, info, "at the end")
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=30)
        stack.down(settings)
    result = {**_summary(machine, minutes, load, samples), **_live_figures(live)}
    console.print(_ratio_table(result))
    counts = load.counts
    console.print(
        f"errors: {counts['score_errors']} of {counts['scored']} score requests, "
        f"{counts['publish_errors']} of {counts['published']} publishes"
    )
    finish(console, result, json_path)
    return result
