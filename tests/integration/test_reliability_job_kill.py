"""SIGKILL the feature job three times with batches in flight: Delta still holds each swipe once.

The job runs as operators run it (`python -m streaming.job`), in its own process group because it
spawns a JVM (and the JVM its Python workers); the whole group is killed, as a node loss would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql import SparkSession

from foundation.tables import TABLE_SWIPES
from services.generator.publish import SwipePublisher
from streaming import job
from streaming.history import QUERY_HISTORY
from streaming.schema import CardTile
from streaming.settings import StreamSettings
from streaming.tile_spark import card_tiles_batch
from tests.eventually import assert_eventually
from tests.integration._stream_support import TopicReader, card, newest, newest_tiles, swipe, tile_of_row
from tests.integration.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

KILLS = 3
MAX_SWIPES = 10_000  # a safety cap: at RATE_PER_S the kills are over after a few thousand
CARDS = 60
RATE_PER_S = 15.0


class Generator:
    """Publishes swipes (event time rising, keyed by card) from a thread until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.publisher = SwipePublisher(bootstrap, topic)
        self.ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="generator", daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        for i in range(MAX_SWIPES):
            if self._stop.is_set():
                return
            s = swipe(f"sw-{i:05d}", card(i % CARDS), i / 6, amount=5.0 + i % 37)
            self.publisher.publish(s)
            self.publisher.producer.poll(0)
            self.ids.append(s.swipe_id)
            ahead = (i + 1) / RATE_PER_S - (time.monotonic() - started)
            if ahead > 0:
                self._stop.wait(ahead)

    def start(self) -> Generator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class JobProcess:
    """`python -m streaming.job` in its own session, so SIGKILL reaches the JVM and its workers."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streaming.job"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> None:
        assert self.process is not None and self.process.poll() is None, (
            f"the job exited with {self.process and self.process.returncode}; see {self.log}"
        )

    def kill(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def terminate(self, timeout_s: float = 90.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout_s)
        self.kill()  # anything the driver left behind in its group
        return code


def batches(checkpoint: Path) -> tuple[int, int]:
    """(newest planned batch, newest committed batch) of a query, -1 when none."""

    def newest(folder: Path) -> int:
        ids = [int(p.name) for p in folder.glob("[0-9]*")] if folder.exists() else []
        return max(ids, default=-1)

    return newest(checkpoint / "offsets"), newest(checkpoint / "commits")


def committed_offsets(checkpoint: Path, topic: str) -> dict[int, int]:
    """The Kafka end offsets of the newest committed batch."""
    _, done = batches(checkpoint)
    if done < 0:
        return {}
    lines = (checkpoint / "offsets" / str(done)).read_text().splitlines()
    return {int(p): int(o) for p, o in json.loads(lines[2])[topic].items()}


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reliability-watermarks"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def test_job_survives_three_sigkills_without_loss_or_duplicates(
    kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    topics = {
        "SWIPES": topic_factory("swipes"),
        "TILES": topic_factory("card-tiles", compacted=True),
        "LABELS": topic_factory("labels"),
        "DECISIONS": topic_factory("decisions"),
    }
    env = {
        **os.environ,
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "FRAUDSTREAM_STATE_DIR": str(tmp_path / "state"),
        "FRAUDSTREAM_METRICS_PORT": str(free_port()),
        "FRAUDSTREAM_TRIGGER_S": "0.5",
        "FRAUDSTREAM_HISTORY_TRIGGER_S": "0.5",
        "FRAUDSTREAM_HORIZONS_S": "[600,3600]",
        **{f"FRAUDSTREAM_TOPIC_{k}": v for k, v in topics.items()},
    }
    # The job's paths and feature config, as it reads them from that environment.
    settings = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        state_dir=tmp_path / "state",
        horizons_s=[600, 3600],
    )
    raw_cp = Path(settings.checkpoint(QUERY_HISTORY))
    features_cp = Path(job.tiles_checkpoint(settings))
    running = JobProcess(env, tmp_path / "job.log")
    generator = Generator(kafka_bootstrap, topics["SWIPES"])
    kills: list[str] = []
    try:
        generator.start()
        running.start()
        for _ in range(KILLS):
            since = batches(features_cp)[1]

            def batch_in_flight(since: int = since) -> str:
                running.alive()
                planned_f, done_f = batches(features_cp)
                planned_r, done_r = batches(raw_cp)
                assert done_f > since, "no new features batch committed since the (re)start yet"
                in_flight = [
                    f"{name} batch {planned}"
                    for name, (planned, done) in (
                        ("features", (planned_f, done_f)),
                        ("raw", (planned_r, done_r)),
                    )
                    if planned > done
                ]
                assert in_flight, "no batch in flight"
                return ", ".join(in_flight)

            kills.append(assert_eventually(batch_in_flight, timeout=150, interval=0.05))
            running.kill()
            running.start()
        generator.stop()
        assert generator.publisher.flush(30) == 0 and generator.publisher.failed == 0
        produced = list(generator.ids)
        ends = end_offsets(kafka_bootstrap, topics["SWIPES"])
        assert sum(ends.values()) == len(produced)

        def drained() -> None:
            running.alive()
            assert committed_offsets(raw_cp, topics["SWIPES"]) == ends
            assert committed_offsets(features_cp, topics["SWIPES"]) == ends

        assert_eventually(drained, timeout=180, interval=1)
        assert running.terminate() == 0
    finally:
        generator.stop()
        running.kill()

    # Spark in this process only now: while the job ran, its own JVM had the cores.
    spark: SparkSession = request.getfixturevalue("spark")
    swipes = spark.read.format("delta").load(settings.table(TABLE_SWIPES))
    ids = [r.swipe_id for r in swipes.select("swipe_id").collect()]
    assert len(ids) == len(set(ids)), f"duplicates after kills at {kills}"
    assert sorted(ids) == sorted(produced), f"missing swipes after kills at {kills}"

    # Every tile's newest value on the topic is the batch recomputation's: a batch replayed after a
    # kill re-emitted its tiles, it never counted a swipe twice or lost one.
    reader = TopicReader(kafka_bootstrap, topics["TILES"])
    try:
        seen = -1
        while seen != len(reader.messages):  # until a 2 s poll brings nothing new
            seen = len(reader.messages)
            reader.poll_all(2.0)
        streamed = _comparable(newest_tiles(reader.messages))
    finally:
        reader.close()
    recomputed = _comparable(newest(map(tile_of_row, card_tiles_batch(swipes).collect())))
    assert len({key.split("|")[0] for key in recomputed}) == CARDS
    assert streamed == recomputed, f"streamed tiles differ from a batch recomputation after kills at {kills}"


def _comparable(tiles: dict[str, CardTile]) -> dict[str, tuple[Any, ...]]:
    """Each tile's counts and newest swipe exactly, its amount to the cent (sums add in any order)."""
    return {k: (t.count, round(t.amount_sum, 2), t.denied, t.last_swipe_id) for k, t in tiles.items()}
