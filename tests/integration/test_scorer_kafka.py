"""The scorer against a real broker: features in from a compacted topic, decided swipes out."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from foundation.card_tokens import tokenize_pan
from scoring.serving.app import build_producer, create_app
from scoring.serving.model import publish_artifact
from scoring.serving.online import FeatureFollower, OnlineFeatureTable
from scoring.serving.settings import ScorerSettings
from tests.eventually import assert_eventually
from tests.unit.scoring.builders import CFG, T0, artifact, tile_messages

pytestmark = pytest.mark.integration

PAN = "4111111111111111"


def test_scorer_follows_features_and_publishes_decided_swipes(
    kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    settings = ScorerSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        topic_tiles=topic_factory("card-tiles", compacted=True),
        topic_swipes=topic_factory("swipes"),
        topic_decisions=topic_factory("decisions"),
        state_dir=tmp_path,
        horizons_s=list(CFG.horizons_s),
        reload_check_s=0,
    )
    token = tokenize_pan(PAN, settings.token_key.get_secret_value().encode())
    # The job's tiles of 4 swipes in the last 3 minutes, after the older tiles of the first of them.
    history = [-180.0, -120.0, -60.0, 0.0]
    upstream = Producer({"bootstrap.servers": kafka_bootstrap})
    for key, value in tile_messages(token, history[:1]):
        upstream.produce(settings.topic_tiles, key=key, value=value)
    upstream.produce(settings.topic_tiles, key=b"junk", value=b"{not a tile record")
    for key, value in tile_messages(token, history):
        upstream.produce(settings.topic_tiles, key=key, value=value)
    assert upstream.flush(30) == 0
    # score = sigmoid(velocity_600_count - 4): the 5th swipe in 10 minutes is denied
    publish_artifact(artifact({"velocity_600_count": 1.0}, threshold=0.5), tmp_path / "models")

    table = OnlineFeatureTable(settings.feature_config)
    follower = FeatureFollower(kafka_bootstrap, settings.topic_tiles, table)
    producer = build_producer(settings)
    registry = CollectorRegistry()
    follower.start()
    try:
        with TestClient(
            create_app(settings, table=table, follower=follower, producer=producer, registry=registry)
        ) as c:
            assert_eventually(lambda: _status(c.get("/readyz"), 200), timeout=60)
            assert follower.malformed == 1
            swipe = {
                "swipe_id": f"sw-{uuid.uuid4().hex[:8]}",
                "amount": 30.0,
                "currency": "EUR",
                "merchant_id": "m1",
                "mcc": "5411",
                "country": "FR",
                "lat": 48.8566,
                "lon": 2.3522,
                "event_time": (T0 + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "pan": PAN,
            }
            r = c.post("/v1/score?explain=true", json=swipe)
            assert r.status_code == 200, r.text
            out = r.json()
            assert out["card_token"] == token
            assert out["features_as_of"] == "2026-11-27T09:00:00Z"
            assert out["inputs"]["velocity_600_count"] == 5  # 4 streamed + this swipe
            assert out["decision"] == "deny"
            assert any(x["code"] == "feature:velocity_600_count" and x["value"] == 5 for x in out["reasons"])
            metrics = c.get("/metrics").text
            count = next(
                line
                for line in metrics.splitlines()
                if line.startswith("fraudstream_score_latency_seconds_count")
            )
            assert float(count.split()[-1]) > 0

            # The follower keeps following after it is ready.
            for key, value in tile_messages(token, [*history, 45.0]):
                upstream.produce(settings.topic_tiles, key=key, value=value)
            upstream.flush(30)
            assert_eventually(lambda: _equal(table.get(token).as_of, T0 + timedelta(seconds=45)), timeout=30)  # type: ignore[union-attr]
        assert producer.flush(30) == 0
    finally:
        follower.stop()

    decided = _consume_until(
        kafka_bootstrap, settings.topic_swipes, lambda v: v["swipe_id"] == swipe["swipe_id"]
    )
    key, value = decided
    assert key == token.encode()
    assert json.loads(value)["decision"] == "deny" and json.loads(value)["card_token"] == token
    assert PAN not in value.decode() and "pan" not in json.loads(value)
    _, record = _consume_until(
        kafka_bootstrap, settings.topic_decisions, lambda v: v["swipe_id"] == swipe["swipe_id"]
    )
    assert json.loads(record)["inputs"]["velocity_600_count"] == 5 and PAN not in record.decode()


def _status(response: Any, code: int) -> None:
    assert response.status_code == code, response.text


def _equal(a: object, b: object) -> None:
    assert a == b


def _consume_until(
    bootstrap: str, topic: str, match: Callable[[dict[str, Any]], bool]
) -> tuple[bytes, bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    found: list[tuple[bytes, bytes]] = []

    def check() -> None:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            key, value = msg.key() or b"", msg.value() or b"{}"
            if match(json.loads(value)):
                found.append((key, value))
        assert found

    try:
        assert_eventually(check, timeout=60, interval=0)
    finally:
        consumer.close()
    return found[0]
