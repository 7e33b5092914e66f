"""librdkafka's own lines go through Python logging, never raw to the terminal (fd 2)."""

from __future__ import annotations

import logging
import time

import pytest

from services.generator.publish import SwipePublisher
from tests.integration.ports import free_port

pytestmark = pytest.mark.integration


def test_a_producer_that_cannot_connect_logs_through_python_not_stderr(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens there: librdkafka reports the refused connection at once, in its own words.
    publisher = SwipePublisher(f"127.0.0.1:{free_port()}", "swipes")
    with caplog.at_level(logging.DEBUG, logger="fraudstream.kafka"):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not caplog.records:
            publisher.producer.poll(0.2)  # serves the log queue into the Python logger
    raw = capfd.readouterr().err
    assert [r for r in caplog.records if r.name == "fraudstream.kafka.producer"], "no librdkafka line logged"
    assert "|FAIL|" not in raw and "%3|" not in raw and "%6|" not in raw, raw
