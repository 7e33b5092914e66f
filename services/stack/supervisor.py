"""`fraudstream up --supervise`: watch the stack, restart a crashed component with backoff, count it.

Run as `python -m services.stack.supervisor` beside the stack it watches (`up --supervise` starts it and
records it in stack.json; `down` stops it first). It serves
`fraudstream_component_restarts_total{component=...}` on FRAUDSTREAM_SUPERVISOR_PORT. Why our own
small loop and not supervisord or circus: docs/operations.md, "Running supervised".
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pydantic import Field, ValidationError

from foundation.logs import configure_logging
from foundation.settings import StackSettings, setting_problems
from services.kafka.broker import KafkaUnavailable
from services.stack.control import COMPONENTS, StackError, StackInfo, heal, stack_file
from services.stack.processes import pid_alive
from services.stack.restarts import Backoff, Watch, observe

log = logging.getLogger("fraudstream.supervisor")


class SupervisorSettings(StackSettings):
    """The supervisor's port and backoff, from FRAUDSTREAM_SUPERVISOR_* and FRAUDSTREAM_RESTART_*."""

    supervisor_port: int = Field(default=9110, ge=1, le=65535, description="Where /metrics is served.")
    restart_first_s: float = Field(default=1.0, ge=0, description="Wait before the first restart.")
    restart_max_s: float = Field(default=60.0, gt=0, description="Longest wait between restarts.")
    restart_healthy_after_s: float = Field(
        default=120.0, gt=0, description="Up this long, a component's crash streak is forgotten."
    )
    supervise_interval_s: float = Field(default=1.0, gt=0, description="How often each process is looked at.")

    @property
    def backoff(self) -> Backoff:
        return Backoff(
            first_s=self.restart_first_s,
            max_s=self.restart_max_s,
            healthy_after_s=self.restart_healthy_after_s,
        )


class RestartMetrics:
    """The supervisor's Prometheus metrics, on a registry passed in."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.restarts = Counter(
            "fraudstream_component_restarts",
            "Restarts of a crashed stack component by the supervisor.",
            ["component"],
            registry=registry,
        )
        self.up = Gauge(
            "fraudstream_component_up",
            "1 while the component's process runs.",
            ["component"],
            registry=registry,
        )
        for name in COMPONENTS:
            self.restarts.labels(name)


# Restart one component; returns the names it started (none if someone else's `up` was first).
Restart = Callable[[StackSettings, str], list[str]]


def _restart(settings: StackSettings, name: str) -> list[str]:
    return heal(settings, only=(name,))[1]


def supervise(
    settings: StackSettings,
    metrics: RestartMetrics,
    policy: Backoff,
    stop: threading.Event,
    interval_s: float = 1.0,
    restart: Restart = _restart,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> None:
    """Look at each component every `interval_s` until `stop` is set or the stack is gone (`down`)."""
    watches = {name: Watch() for name in COMPONENTS}
    while not stop.is_set():
        info = StackInfo.load(stack_file(settings))
        if info is None:
            log.info("the stack is gone (no stack.json); stopping", extra={"fields": {}})
            return
        for name in COMPONENTS:
            comp = info.component(name)
            if comp.pid is None:  # an external Kafka: not a process of ours
                continue
            alive = pid_alive(comp.pid)
            metrics.up.labels(name).set(1 if alive else 0)
            up_for = wall_clock() - comp.started_at if comp.started_at is not None else None
            before = watches[name]
            watches[name], due = observe(policy, before, clock(), alive, up_for)
            crashes = watches[name].crashes
            if not alive and before.restart_at is None and not due:
                log.warning(
                    "component died; restarting after backoff",
                    extra={"fields": {"component": name, "pid": comp.pid, "crashes": crashes}},
                )
            if due and not stop.is_set():
                _restart_one(settings, name, restart, metrics, {"old_pid": comp.pid, "crashes": crashes})
        stop.wait(interval_s)


def _restart_one(
    settings: StackSettings, name: str, restart: Restart, metrics: RestartMetrics, fields: dict[str, object]
) -> None:
    """Restart `name` and count it; not counted when a `fraudstream up` brought it back first."""
    log.warning("restarting component", extra={"fields": {"component": name, **fields}})
    try:
        started = restart(settings, name)
    except (StackError, KafkaUnavailable) as exc:
        # Counted: a try was made. The next look finds it dead again and waits longer.
        metrics.restarts.labels(name).inc()
        log.error("restart failed", extra={"fields": {"component": name, "error": str(exc)}})
        return
    if name in started:
        metrics.restarts.labels(name).inc()
        log.info("component back", extra={"fields": {"component": name}})
    else:
        log.info("component was already back (a `fraudstream up`)", extra={"fields": {"component": name}})


def main() -> int:
    configure_logging("INFO")
    try:
        settings = SupervisorSettings()
    except ValidationError as exc:
        for problem in setting_problems(exc) or [str(exc)]:
            log.error(problem)
        return 2
    registry = CollectorRegistry()
    metrics = RestartMetrics(registry)
    server, _ = start_http_server(settings.supervisor_port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        # Out of a restart in progress too: `heal` stops what it had started, `down` does the rest.
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    log.info(
        "supervisor running",
        extra={"fields": {"state_dir": str(settings.state_dir), "metrics_port": settings.supervisor_port}},
    )
    try:
        supervise(settings, metrics, settings.backoff, stop, settings.supervise_interval_s)
    finally:
        server.shutdown()
        log.info("supervisor stopped", extra={"fields": {}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
