"""What the supervisor decides, as plain functions: when to restart a crashed component, and health words."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Backoff:
    """How long to wait before restarting a component that crashed `crashes` times in a row.

    The first restart waits `first_s`, each further crash in a row `factor` times longer, up to
    `max_s`. A component that then stays up for `healthy_after_s` has its crash streak forgotten,
    so a crash a day later restarts quickly again.
    """

    first_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    healthy_after_s: float = 120.0

    def delay(self, crashes: int) -> float:
        if crashes < 1:
            return 0.0
        return min(self.max_s, self.first_s * self.factor ** (crashes - 1))


@dataclass(frozen=True)
class Watch:
    """What the supervisor remembers about one component between two looks at it."""

    crashes: int = 0  # crashes in a row, forgotten once it stayed up `healthy_after_s`
    restart_at: float | None = None  # monotonic time the pending restart is due; None: none pending


def observe(
    policy: Backoff, watch: Watch, now: float, alive: bool, up_for_s: float | None
) -> tuple[Watch, bool]:
    """One look at a component: the new watch, and whether to restart it now.

    `up_for_s` is how long the running process has been up (None when unknown).
    """
    if alive:
        if watch.crashes and up_for_s is not None and up_for_s >= policy.healthy_after_s:
            return Watch(), False
        return replace(watch, restart_at=None), False
    due = watch.restart_at
    if due is None:
        due = now + policy.delay(watch.crashes + 1)
        watch = Watch(watch.crashes + 1, due)
    if now >= due:
        return Watch(watch.crashes, None), True
    return watch, False


def health(alive: bool, answers: bool, external: bool = False) -> str:
    """A component's health word for `fraudstream status`.

    `alive`: its process runs; `answers`: its probe (a Kafka metadata request, /metrics, /readyz)
    succeeded. An external Kafka has no process of ours, so only its answer counts.
    """
    if external:
        return "external" if answers else "unreachable"
    if not alive:
        return "dead"
    return "ready" if answers else "starting"


def format_uptime(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h07m`, `1d03h`; `-` when the component is not up."""
    if seconds is None or seconds < 0:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
