"""The broker dies and comes back while the generator publishes and the scorer serves.

What the scorer promises (scoring.serving.decision.Degraded, ScorerSettings.stale_after_s): it keeps
deciding from what it holds; a card whose decided swipes have not been folded into its features
for `stale_after_s` gets `features_stale` (the features are set aside), a card it has no features
for gets `features_missing`, and `features_catching_up` is only for the initial load (the follower's
`ready` stays true). Once Kafka is back, newly published features are used again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from foundation.settings import StackSettings
from foundation.topics import ensure_topics
from scoring.serving.app import build_producer, create_app
from scoring.serving.model import publish_artifact
from scoring.serving.online import FeatureFollower, OnlineFeatureTable
from scoring.serving.settings import ScorerSettings
from services.generator.publish import SwipePublisher
from services.kafka.broker import BrokerConfig, EmbeddedKafka
from tests.eventually import assert_eventually
from tests.integration._served import served
from tests.integration._stream_support import TopicReader, card, swipe
from tests.integration.ports import free_ports
from tests.unit.scoring.builders import CFG, T0, artifact, tile_messages

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

KNOWN, UNKNOWN = card(0x51), card(0x52)
STALE_AFTER_S = 1.0


class Generator:
    """Publishes swipes with the generator's idempotent SwipePublisher from a thread until stopped."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.publisher = SwipePublisher(bootstrap, topic)
        self.ids: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="generator", daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            s = swipe(f"gen-{i:06d}", card(1000 + i % 50), i / 60)
            self.publisher.publish(s)
            self.publisher.producer.poll(0)
            self.ids.append(s.swipe_id)
            i += 1
            time.sleep(0.01)

    def start(self) -> Generator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def score(client: httpx.Client, card_token: str, at: datetime, swipe_id: str) -> dict[str, Any]:
    body = {
        "swipe_id": swipe_id,
        "amount": 25.0,
        "currency": "EUR",
        "merchant_id": "m1",
        "mcc": "5411",
        "country": "FR",
        "lat": 48.8566,
        "lon": 2.3522,
        "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "card_token": card_token,
    }
    r = client.post("/v1/score", json=body)
    assert r.status_code == 200, f"{r.status_code}: {r.text}"
    out: dict[str, Any] = r.json()
    out["codes"] = {reason["code"] for reason in out["reasons"]}
    return out


def test_scorer_degrades_then_recovers_across_a_broker_restart(tmp_path: Path) -> None:
    port, controller_port = free_ports(2)
    broker = EmbeddedKafka(
        BrokerConfig(
            data_dir=tmp_path / "kafka",
            jars_dir=StackSettings().jars_dir,
            port=port,
            controller_port=controller_port,
        )
    )
    broker.start()
    suffix = uuid.uuid4().hex[:8]
    settings = ScorerSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=broker.bootstrap,
        topic_tiles=f"card-tiles-{suffix}",
        topic_swipes=f"swipes-{suffix}",
        topic_decisions=f"decisions-{suffix}",
        state_dir=tmp_path,
        horizons_s=list(CFG.horizons_s),
        reload_check_s=0,
        stale_after_s=STALE_AFTER_S,
    )
    publish_artifact(artifact({"velocity_600_count": 1.0}, threshold=0.5), tmp_path / "models")
    features = Producer({"bootstrap.servers": broker.bootstrap})  # plays the feature job
    table = OnlineFeatureTable(settings.feature_config)
    follower = FeatureFollower(broker.bootstrap, settings.topic_tiles, table)
    scorer_producer = build_producer(settings)
    generator: Generator | None = None
    try:
        ensure_topics(broker.bootstrap, [settings.topic_swipes, settings.topic_decisions])
        ensure_topics(broker.bootstrap, [settings.topic_tiles], compacted=[settings.topic_tiles])
        for key, value in tile_messages(KNOWN, [0.0]):
            features.produce(settings.topic_tiles, key=key, value=value)
        assert features.flush(30) == 0
        follower.start()
        assert follower.wait_ready(60), f"the follower did not load the features: {follower.error}"
        generator = Generator(broker.bootstrap, settings.topic_swipes).start()
        app = create_app(settings, table=table, follower=follower, producer=scorer_producer)
        with served(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            healthy = score(client, KNOWN, T0 + timedelta(seconds=10), "sc-0")
            assert healthy["features_as_of"] == "2026-11-27T09:00:00Z"
            assert healthy["degraded"] is False, healthy["reasons"]

            broker.kill()
            down_at = time.monotonic()
            during: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
            k = 0
            while time.monotonic() - down_at < 3 * STALE_AFTER_S:
                k += 1
                at = T0 + timedelta(seconds=10 + k)
                known = score(client, KNOWN, at, f"sc-{k}")
                unknown = score(client, UNKNOWN, at, f"sc-u{k}")
                during.append((time.monotonic() - down_at, known, unknown))
                time.sleep(0.1)
            ready = client.get("/readyz")
            assert ready.status_code == 200, f"readiness is lost only before the first load: {ready.text}"

            assert all("features_missing" in u["codes"] and u["degraded"] for _, _, u in during)
            assert not any("features_catching_up" in r["codes"] for _, k_, u in during for r in (k_, u))
            assert all("features_missing" not in r["codes"] for _, r, _ in during)
            # The healthy decision was made before the kill: more than STALE_AFTER_S later, it is
            # still not folded, so the features are set aside (but still reported with their as_of).
            late = [r for t, r, _ in during if t > STALE_AFTER_S + 0.5]
            assert late, "no decision was made long enough after the kill"
            for r in late:
                assert "features_stale" in r["codes"] and r["degraded"] is True, r["reasons"]
                assert r["features_as_of"] == "2026-11-27T09:00:00Z"

            broker.start()
            # The job catches up after the outage: A's features now include every decided swipe.
            caught_up = T0 + timedelta(seconds=10 + k + 1)
            for key, value in tile_messages(KNOWN, [0.0, 10.0 + k + 1]):
                features.produce(settings.topic_tiles, key=key, value=value)
            assert features.flush(30) == 0

            def recovered() -> None:
                after = score(client, KNOWN, caught_up + timedelta(seconds=5), f"sc-r{uuid.uuid4().hex[:6]}")
                assert after["features_as_of"] == caught_up.strftime("%Y-%m-%dT%H:%M:%SZ"), after
                assert after["degraded"] is False and not any(
                    c.startswith("features_") for c in after["codes"]
                )

            assert_eventually(recovered, timeout=60)
            assert client.get("/readyz").status_code == 200
        generator.stop()
        assert generator.publisher.flush(60) == 0, "swipes still undelivered a minute after the restart"
        assert generator.publisher.failed == 0, generator.publisher.last_error
        assert generator.publisher.delivered == len(generator.ids)
        assert scorer_producer.flush(30) == 0

        reader = TopicReader(broker.bootstrap, settings.topic_swipes)
        try:

            def everything_read() -> list[str]:
                ids = [json.loads(v)["swipe_id"] for _, v in reader.poll_all(2.0)]
                assert set(generator.ids) <= set(ids)
                return ids

            ids = assert_eventually(everything_read, timeout=60)
        finally:
            reader.close()
        generated = sorted(i for i in ids if i.startswith("gen-"))
        assert generated == sorted(generator.ids), "the idempotent producer duplicated a swipe"
        scored = [i for i in ids if i.startswith("sc-")]
        assert len(scored) == len(set(scored)), "the scorer's producer duplicated a swipe"
    finally:
        if generator is not None:
            generator.stop()
        follower.stop()
        broker.stop()
