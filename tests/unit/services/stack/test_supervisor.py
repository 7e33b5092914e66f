"""The supervisor loop on a stack.json whose processes are this test's: it restarts the dead one, once."""

from __future__ import annotations

import os
import threading

from prometheus_client import CollectorRegistry

from foundation.settings import StackSettings
from services.stack.control import Component, StackInfo, stack_file
from services.stack.restarts import Backoff
from services.stack.supervisor import RestartMetrics, supervise


def _save(settings: StackSettings, stream_pid: int) -> None:
    StackInfo(
        kafka=Component("kafka", None, "127.0.0.1:1"),
        stream=Component("stream", stream_pid, "http://127.0.0.1:1/metrics", started_at=0.0),
        scorer=Component("scorer", os.getpid(), "http://127.0.0.1:2", started_at=0.0),
    ).save(stack_file(settings))


def _run(settings: StackSettings, policy: Backoff, restart: object, seconds: float) -> CollectorRegistry:
    """Supervise for `seconds` of a fake clock that each look at a component moves on by 0.1 s."""
    registry = CollectorRegistry()
    stop = threading.Event()
    ticks = iter(range(10_000))

    def clock() -> float:
        now = next(ticks) / 10
        if now >= seconds:
            stop.set()
        return now

    supervise(
        settings,
        RestartMetrics(registry),
        policy,
        stop,
        interval_s=0.0,
        restart=restart,  # type: ignore[arg-type]
        clock=clock,
    )
    return registry


def _restarts(registry: CollectorRegistry, component: str) -> float | None:
    return registry.get_sample_value("fraudstream_component_restarts_total", {"component": component})


def test_a_dead_component_is_restarted_once_and_counted(stack_settings: StackSettings, dead_pid: int) -> None:
    _save(stack_settings, dead_pid)
    calls: list[str] = []

    def restart(s: StackSettings, name: str) -> list[str]:
        calls.append(name)
        _save(s, os.getpid())  # what `heal` does: a running process in stack.json
        return [name]

    registry = _run(stack_settings, Backoff(first_s=0.0), restart, seconds=1.0)
    assert calls == ["stream"]
    assert _restarts(registry, "stream") == 1
    assert _restarts(registry, "scorer") == 0
    assert _restarts(registry, "kafka") == 0  # exported before any restart, so a dashboard sees 0
    assert registry.get_sample_value("fraudstream_component_up", {"component": "stream"}) == 1


def test_a_restart_that_fails_is_tried_again_after_a_longer_wait(
    stack_settings: StackSettings, dead_pid: int
) -> None:
    _save(stack_settings, dead_pid)
    calls: list[str] = []

    def restart(s: StackSettings, name: str) -> list[str]:
        from services.stack.control import StackError

        calls.append(name)
        raise StackError("the stream exited with code 1 during start-up")

    # Each loop looks at the stream and the scorer (0.2 s of the fake clock). Dead at 0: the first try
    # once 0.3 s passed (0.4), the second 0.6 s after the failure is seen (1.2), the third would be at 2.6.
    registry = _run(stack_settings, Backoff(first_s=0.3, factor=2.0), restart, seconds=2.0)
    assert calls == ["stream", "stream"]
    assert _restarts(registry, "stream") == 2
    assert registry.get_sample_value("fraudstream_component_up", {"component": "stream"}) == 0


def test_no_restart_before_the_backoff_is_over(stack_settings: StackSettings, dead_pid: int) -> None:
    _save(stack_settings, dead_pid)
    calls: list[str] = []

    def restart(s: StackSettings, name: str) -> list[str]:
        calls.append(name)
        return [name]

    registry = _run(stack_settings, Backoff(first_s=60.0), restart, seconds=30.0)
    assert calls == []
    assert _restarts(registry, "stream") == 0


def test_a_component_someone_else_brought_back_is_not_counted(
    stack_settings: StackSettings, dead_pid: int
) -> None:
    _save(stack_settings, dead_pid)

    def restart(s: StackSettings, name: str) -> list[str]:
        _save(s, os.getpid())  # a `fraudstream up` in another terminal was first: heal started nothing
        return []

    registry = _run(stack_settings, Backoff(first_s=0.0), restart, seconds=1.0)
    assert _restarts(registry, "stream") == 0
    assert registry.get_sample_value("fraudstream_component_up", {"component": "stream"}) == 1


def test_the_supervisor_stops_when_the_stack_is_gone(stack_settings: StackSettings) -> None:
    registry = CollectorRegistry()
    # No stack.json: it returns at once instead of waiting for `stop`.
    supervise(stack_settings, RestartMetrics(registry), Backoff(), threading.Event(), interval_s=0.01)
    assert _restarts(registry, "stream") == 0
