"""`python -m streaming.job` as an operator runs it: JSON logs, /metrics, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.eventually import assert_eventually
from tests.integration._stream_support import card, produce, swipe
from tests.integration.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_job_process_serves_metrics_and_stops_cleanly_on_sigterm(
    kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    swipes, features = topic_factory("swipes"), topic_factory("features", compacted=True)
    produce(kafka_bootstrap, swipes, [swipe("s1", card(1), 0), swipe("s2", card(1), 1), b"{oops"])
    port = free_port()
    env = {
        **os.environ,
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "FRAUDSTREAM_TOPIC_SWIPES": swipes,
        "FRAUDSTREAM_TOPIC_TILES": features,
        "FRAUDSTREAM_TOPIC_LABELS": topic_factory("labels"),
        "FRAUDSTREAM_TOPIC_DECISIONS": topic_factory("decisions"),
        "FRAUDSTREAM_STATE_DIR": str(tmp_path),
        "FRAUDSTREAM_METRICS_PORT": str(port),
        "FRAUDSTREAM_TRIGGER_S": "0.5",
        "FRAUDSTREAM_HISTORY_TRIGGER_S": "2",
    }
    log = tmp_path / "job.log"
    with log.open("wb") as out:
        job = subprocess.Popen([sys.executable, "-m", "streaming.job"], env=env, stdout=out, stderr=out)
    try:

        def scraped() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    text = resp.read().decode()
            except OSError as exc:
                raise AssertionError(f"no /metrics yet: {exc}") from exc
            assert 'fraudstream_stream_dead_letters_total{query="history"} 1.0' in text
            assert 'fraudstream_stream_batches_total{query="card_tiles"}' in text
            return text

        assert_eventually(scraped, timeout=150, interval=2)
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=90) == 0
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    messages = [line["msg"] for line in lines]
    assert "feature job running" in messages and "stop requested" in messages
    # the local master runs the history queries in a child driver, whose figures reached /metrics above
    assert "history driver started" in messages
    progress = [line for line in lines if line["msg"] == "stream progress"]
    assert {line["query"] for line in progress} >= {"history", "card_tiles", "sessions", "merchant_features"}
