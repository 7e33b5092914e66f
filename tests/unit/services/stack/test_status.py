"""`fraudstream status` from a stack.json: health and uptime per component, the restart counts."""

from __future__ import annotations

import os

import pytest

from foundation.settings import StackSettings
from services.stack.control import Component, StackInfo
from services.stack.status import describe, restart_counts

NOW = 1_800_000_000.0


def _info(kafka_pid: int | None, stream_pid: int, scorer_pid: int, supervisor: Component | None) -> StackInfo:
    return StackInfo(
        kafka=Component("kafka", kafka_pid, "127.0.0.1:9", started_at=NOW - 3600),
        stream=Component("stream", stream_pid, "http://127.0.0.1:9/metrics", started_at=NOW - 75),
        scorer=Component("scorer", scorer_pid, "http://127.0.0.1:8", started_at=NOW - 5),
        supervisor=supervisor,
    )


@pytest.mark.parametrize(
    ("stream_answers", "scorer_answers", "kafka_answers"),
    [(True, True, True), (False, True, True), (True, False, False)],
)
def test_health_of_each_component(
    stack_settings: StackSettings,
    dead_pid: int,
    stream_answers: bool,
    scorer_answers: bool,
    kafka_answers: bool,
) -> None:
    # Kafka external (no pid of ours), the job and this test's process alive, the scorer dead.
    info = _info(None, os.getpid(), dead_pid, None)
    answered = {"http://127.0.0.1:9/metrics": stream_answers, "http://127.0.0.1:8/readyz": scorer_answers}
    st = describe(stack_settings, info, lambda url: answered[url], lambda _: kafka_answers, NOW)
    kafka_word = "external" if kafka_answers else "unreachable"
    assert (st["kafka"]["health"], st["stream"]["health"], st["scorer"]["health"]) == (  # type: ignore[index]
        kafka_word,
        "ready" if stream_answers else "starting",
        "dead",
    )
    assert st["stream"]["uptime_s"] == 75.0  # type: ignore[index]
    assert st["scorer"]["uptime_s"] is None  # type: ignore[index]
    assert st["running"] is False
    assert st["supervisor"] is None


def test_a_running_supervisor_shows_its_restart_counts(stack_settings: StackSettings) -> None:
    sup = Component("supervisor", os.getpid(), "http://127.0.0.1:7/metrics", started_at=NOW - 10)
    info = _info(os.getpid(), os.getpid(), os.getpid(), sup)
    st = describe(
        stack_settings,
        info,
        lambda url: True,
        lambda _: True,
        NOW,
        scrape_restarts=lambda url: {"kafka": 0.0, "stream": 0.0, "scorer": 1.0},
    )
    assert st["running"] is True
    assert st["kafka"]["health"] == "ready" and st["kafka"]["uptime_s"] == 3600.0  # type: ignore[index]
    assert st["supervisor"] == {
        "pid": os.getpid(),
        "alive": True,
        "health": "ready",
        "uptime_s": 10.0,
        "metrics": "http://127.0.0.1:7/metrics",
        "log": "",
        "restarts": {"kafka": 0.0, "stream": 0.0, "scorer": 1.0},
    }


def test_a_dead_supervisor_is_shown_dead(stack_settings: StackSettings, dead_pid: int) -> None:
    sup = Component("supervisor", dead_pid, "http://127.0.0.1:7/metrics")
    info = _info(os.getpid(), os.getpid(), os.getpid(), sup)
    st = describe(
        stack_settings, info, lambda url: True, lambda _: True, NOW, scrape_restarts=lambda url: None
    )
    assert st["supervisor"]["health"] == "dead" and st["supervisor"]["restarts"] == {}  # type: ignore[index]


def test_restart_counts_from_the_metrics_text() -> None:
    text = (
        "# HELP fraudstream_component_restarts_total Restarts.\n"
        "# TYPE fraudstream_component_restarts_total counter\n"
        'fraudstream_component_restarts_total{component="stream"} 2.0\n'
        'fraudstream_component_restarts_total{component="scorer"} 0.0\n'
        'fraudstream_component_restarts_created{component="stream"} 1.7e9\n'
        'fraudstream_component_up{component="stream"} 1.0\n'
    )
    assert restart_counts(text) == {"stream": 2.0, "scorer": 0.0}
