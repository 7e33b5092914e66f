"""The story end to end: real broker, the Spark job as its own process, the scorer, the replay's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services import stack
from services.settings import StackSettings
from tests.integration.conftest import free_port

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
        "FRAUDSTREAM_TOPIC_FEATURES": f"card-features-{suffix}",
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


def test_replay_catches_the_stolen_card_that_a_batch_job_lets_through(
    stack_env: StackSettings, tmp_path: Path
) -> None:
    fraudstream = [sys.executable, "-m", "services.cli"]
    env = dict(os.environ)
    subprocess.run(
        [*fraudstream, "train", "--cards", "1500", "--days", "8"], env=env, check=True, timeout=300
    )
    stack.up(stack_env, scorer_port=free_port(), metrics_port=free_port())
    out = tmp_path / "replay.json"
    result = subprocess.run(
        [*fraudstream, "replay", "stolen-card", "--json", str(out), "--speed", "300", "--seed", "11"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "fraudulent swipes approved" in result.stdout
    report = json.loads(out.read_text())

    assert report["fraud_swipes"] == 12
    assert report["fraud_approved"] <= 1, report
    assert report["legit_swipes"] > 0
    assert report["legit_denied"] == 0, report
    assert report["batch_baseline_approved"] >= 10, report
    assert 0 < report["p50_ms"] <= report["p99_ms"]
