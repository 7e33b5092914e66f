"""The scorer app in a test: its tables, producer and clock in hand, and request bodies to send it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from scoring.serving.app import create_app
from scoring.serving.model import publish_artifact
from scoring.serving.online import OnlineFeatureTable, OnlineMerchantTable
from scoring.serving.settings import ScorerSettings
from tests.unit.scoring.builders import CFG, T0, TOKEN, artifact

PAN = "4111 1111 1111 1111"
PAN_DIGITS = "4111111111111111"
BODY = {
    "swipe_id": "sw-1",
    "amount": 42.5,
    "currency": "EUR",
    "merchant_id": "m1",
    "mcc": "5411",
    "country": "FR",
    "lat": 48.8566,
    "lon": 2.3522,
    "channel": "pos",
    "event_time": "2026-11-27T09:00:10Z",
}


class RecordingProducer:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.records: list[tuple[str, bytes, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
        if self.fail is not None:
            raise self.fail
        self.records.append((topic, key, value))

    def poll(self, timeout: float) -> int:
        return 0


class Harness:
    def __init__(self, tmp_path: Path, model: bool = True, **overrides: Any) -> None:
        self.now = T0 + timedelta(seconds=11)
        self.table = OnlineFeatureTable()
        self.merchants = OnlineMerchantTable()
        self.registry = CollectorRegistry()
        self.producer = RecordingProducer()
        self.follower = SimpleNamespace(ready=True, lag=0, malformed=0)
        if model:
            publish_artifact(artifact({"velocity_600_count": 1.0}, threshold=0.5), tmp_path / "models")
        self.settings = ScorerSettings(
            _env_file=None,  # type: ignore[call-arg]
            state_dir=tmp_path,
            horizons_s=list(CFG.horizons_s),
            reload_check_s=0,
            **overrides,
        )

    def client(self) -> TestClient:
        app = create_app(
            self.settings,
            table=self.table,
            merchants=self.merchants,
            follower=self.follower,
            producer=self.producer,
            registry=self.registry,
            clock=lambda: self.now,
        )
        return TestClient(app)


def body(**changes: Any) -> dict[str, Any]:
    out = {**BODY, "card_token": TOKEN, **changes}
    return {k: v for k, v in out.items() if v is not None}
