"""`up` after a kill -9 of the embedded broker: it comes back on its data folder; the rest is left alone.

The job and the scorer are stand-ins here (sleeping processes recorded in stack.json), so the
test is about the broker alone: `tests/integration/test_stack_heal.py` kills the real ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from foundation.settings import StackSettings
from services.stack import control as stack
from services.stack.processes import pid_alive, stop_pid
from tests.eventually import assert_eventually
from tests.integration.ports import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[StackSettings]:
    port, _ = free_ports(2)  # the controller listens on port + 1; keep that one unbound too
    settings = StackSettings(
        _env_file=None,  # type: ignore[call-arg]
        state_dir=tmp_path / "state",
        embedded_kafka_port=port,
        jars_dir=StackSettings().jars_dir,
        topic_swipes=f"swipes-{uuid.uuid4().hex[:8]}",
    )
    stand_ins = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        for _ in range(2)
    ]
    kafka = stack.start_kafka(settings)
    stack.StackInfo(
        kafka=kafka,
        stream=stack.Component("stream", stand_ins[0].pid, "http://127.0.0.1:1/metrics", port=1),
        scorer=stack.Component("scorer", stand_ins[1].pid, "http://127.0.0.1:2", port=2),
    ).save(stack.stack_file(settings))
    try:
        yield settings
    finally:
        info = stack.StackInfo.load(stack.stack_file(settings))
        for pid in [p.pid for p in stand_ins] + ([info.kafka.pid] if info else []):
            stop_pid(pid)


def _read_one(bootstrap: str, topic: str) -> bytes | None:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                return msg.value()
        return None
    finally:
        consumer.close()


def test_up_brings_back_a_killed_embedded_broker_with_its_topics(embedded: StackSettings) -> None:
    before = stack.StackInfo.load(stack.stack_file(embedded))
    assert before is not None and before.kafka.pid is not None
    stack.heal(embedded)  # creates the stack's topics; nothing to start
    payload = uuid.uuid4().bytes
    producer = Producer({"bootstrap.servers": embedded.bootstrap, "enable.idempotence": True})
    producer.produce(embedded.topic_swipes, key=b"card", value=payload)
    assert producer.flush(10) == 0

    old_pid = before.kafka.pid
    os.kill(old_pid, signal.SIGKILL)
    assert_eventually(lambda: _gone(old_pid), timeout=30)
    assert stack.status(embedded)["kafka"]["health"] == "dead"  # type: ignore[index]

    info, started = stack.heal(embedded)
    assert started == ["kafka"]
    assert info.kafka.pid != old_pid and pid_alive(info.kafka.pid)
    assert (info.stream.pid, info.scorer.pid) == (before.stream.pid, before.scorer.pid)
    assert stack.status(embedded)["kafka"]["health"] == "ready"  # type: ignore[index]
    # The broker came back on its data folder: what was on the topic before the kill still is.
    assert _read_one(embedded.bootstrap, embedded.topic_swipes) == payload


def _gone(pid: int) -> None:
    assert not pid_alive(pid), f"pid {pid} outlived SIGKILL"
