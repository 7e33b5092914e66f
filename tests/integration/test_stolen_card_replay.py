"""The story end to end on a stack with live traffic: real broker, the Spark job as its own process, the
scorer, a generator publishing before and during the replay, the replay's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from foundation.settings import StackSettings
from services.generator.population import PopulationConfig, build_population
from services.stack import control as stack
from services.stack.pan_scan import scan_bytes, scan_tree
from tests.integration.ports import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def stack_env(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StackSettings]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "FRAUDSTREAM_STATE_DIR": str(tmp_path / "state"),
        "FRAUDSTREAM_TOPIC_SWIPES": f"swipes-{suffix}",
        "FRAUDSTREAM_TOPIC_TILES": f"card-tiles-{suffix}",
        "FRAUDSTREAM_TOPIC_LABELS": f"labels-{suffix}",
        "FRAUDSTREAM_TOPIC_DECISIONS": f"decisions-{suffix}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = StackSettings()
    try:
        yield settings
    finally:
        stack.down(settings)


def test_replay_on_a_live_stack_catches_the_stolen_card_that_a_batch_job_lets_through(
    stack_env: StackSettings, tmp_path: Path
) -> None:
    fraudstream = [sys.executable, "-m", "services.cli"]
    env = dict(os.environ)
    subprocess.run(
        [*fraudstream, "train", "--cards", "1500", "--days", "8"], env=env, check=True, timeout=300
    )
    scorer_port, metrics_port = free_ports(2)
    stack.up(stack_env, scorer_port=scorer_port, metrics_port=metrics_port)
    # Live traffic first: its simulated event time runs hours ahead of the story's old history, so
    # the job's watermark is past the history before the replay starts; more of it during.
    subprocess.run(
        [*fraudstream, "generate", "--count", "30000", "--rate", "1500"],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )
    during = subprocess.Popen(
        [*fraudstream, "generate", "--duration", "900", "--rate", "50", "--wallclock"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = tmp_path / "replay.json"
    try:
        result = subprocess.run(
            [*fraudstream, "replay", "stolen-card", "--json", str(out), "--speed", "300", "--seed", "11"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert during.poll() is None, "the live generator stopped before the replay ended"
    finally:
        during.terminate()
        during.wait(30)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "fraudulent swipes approved" in result.stdout
    report = json.loads(out.read_text())

    assert report["fraud_swipes"] == 12
    assert report["fraud_approved"] <= 1, report
    assert report["legit_swipes"] > 0
    assert report["legit_denied"] == 0, report
    assert report["batch_baseline_approved"] >= 10, report
    assert 0 < report["p50_ms"] <= report["p99_ms"]

    # Nothing the stack wrote holds a card number in clear: not a topic, not Delta, not a log.
    pop = build_population(
        np.random.default_rng(11),
        stack_env.token_key.get_secret_value().encode(),
        PopulationConfig(cards=400),
    )
    pans = [pop.pan(c) for c in range(pop.cards)]
    assert scan_tree(stack_env.state_dir, known=pans) == []
    topics = [
        stack_env.topic_swipes,
        stack_env.topic_tiles,
        stack_env.topic_labels,
        stack_env.topic_decisions,
    ]
    records = _topic_bytes(stack_env.bootstrap, topics)
    assert len(records) > report["fraud_swipes"]
    assert scan_bytes("kafka", b"\n".join(records), known=pans) == []


def _topic_bytes(bootstrap: str, topics: list[str]) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"scan-{uuid.uuid4()}"})
    try:
        parts = []
        for topic in topics:
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
        consumer.assign(parts)
        out: list[bytes] = []
        idle = 0
        while idle < 5:
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1
                continue
            if msg.error() is None:
                out += [msg.key() or b"", msg.value() or b""]
        return out
    finally:
        consumer.close()
