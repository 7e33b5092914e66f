"""`fraudstream status`'s view of the stack: each component's health, uptime and address, from stack.json."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from foundation.settings import StackSettings
from services.stack.control import StackInfo, ready_url
from services.stack.processes import pid_alive
from services.stack.restarts import health

RESTARTS_METRIC = "fraudstream_component_restarts"


def _uptime(alive: bool, started_at: float | None, now: float) -> float | None:
    return round(now - started_at, 1) if alive and started_at is not None else None


def restart_counts(metrics_text: str) -> dict[str, float]:
    """Each component's restart count from the supervisor's /metrics text."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != RESTARTS_METRIC:
            continue
        for sample in family.samples:
            if sample.name == f"{RESTARTS_METRIC}_total":
                counts[sample.labels["component"]] = sample.value
    return counts


def _scrape_restarts(url: str) -> dict[str, float] | None:
    try:
        answer = httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return None
    return restart_counts(answer.text) if answer.status_code == 200 else None


def describe(
    settings: StackSettings,
    info: StackInfo | None,
    answers: Callable[[str], bool],
    kafka_answers: Callable[[str], bool],
    now: float,
    scrape_restarts: Callable[[str], dict[str, float] | None] = _scrape_restarts,
) -> dict[str, object]:
    """The status document: the keys of every component (pid, alive, health, uptime_s, address, log)."""
    if info is None:
        return {
            "running": False,
            "kafka": {"bootstrap": settings.bootstrap, "health": "stopped"},
            "stream": {"pid": None, "health": "stopped"},
            "scorer": {"pid": None, "url": None, "health": "stopped"},
            "supervisor": None,
            "delta": {},
        }
    out: dict[str, object] = {
        "running": all(pid_alive(c.pid) for c in (info.stream, info.scorer)),
        "delta": info.delta,
    }
    address_key = {"kafka": "bootstrap", "stream": "metrics", "scorer": "url"}
    for comp in (info.kafka, info.stream, info.scorer):
        external = comp.name == "kafka" and comp.pid is None
        alive = pid_alive(comp.pid)
        probe = kafka_answers(comp.address) if comp.name == "kafka" else alive and answers(ready_url(comp))
        out[comp.name] = {
            "pid": comp.pid,
            "alive": alive or (external and probe),
            "health": health(alive, probe, external=external),
            "uptime_s": _uptime(alive, comp.started_at, now),
            address_key[comp.name]: comp.address,
            "log": comp.log,
        }
    sup = info.supervisor
    if sup is None:
        out["supervisor"] = None
    else:
        alive = pid_alive(sup.pid)
        restarts = scrape_restarts(sup.address) if alive else None
        out["supervisor"] = {
            "pid": sup.pid,
            "alive": alive,
            "health": health(alive, restarts is not None),
            "uptime_s": _uptime(alive, sup.started_at, now),
            "metrics": sup.address,
            "log": sup.log,
            "restarts": restarts or {},
        }
    return out
