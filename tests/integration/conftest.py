"""Session-scoped real components: one Kafka broker, one SparkSession; fresh topics per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from foundation.settings import StackSettings
from foundation.topics import ensure_topics
from services.kafka.broker import BrokerConfig, EmbeddedKafka
from tests.integration.ports import free_ports


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real broker: the cluster in FRAUDSTREAM_KAFKA_BOOTSTRAP, or an embedded KRaft broker."""
    configured = os.environ.get("FRAUDSTREAM_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    settings = StackSettings()
    port, controller_port = free_ports(2)
    broker = EmbeddedKafka(
        BrokerConfig(
            data_dir=tmp_path_factory.mktemp("kafka"),
            jars_dir=settings.jars_dir,
            port=port,
            controller_port=controller_port,
        )
    )
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_factory(kafka_bootstrap: str) -> Callable[..., str]:
    """Make a uuid-named topic on the session broker: `topic_factory("swipes", compacted=False)`."""

    def make(prefix: str = "t", partitions: int = 2, compacted: bool = False) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        ensure_topics(kafka_bootstrap, [name], partitions=partitions, compacted=[name] if compacted else [])
        return name

    return make


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One SparkSession (local[2], Delta, Kafka connector from local jars) for the whole run."""
    from streaming.spark import build_session

    session = build_session("fraudstream-tests", StackSettings().jars_dir, master="local[2]")
    session.sparkContext.setLogLevel("WARN")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path
