"""The job's history queries in a second driver on a local master: the child process, its relay and its floor.

`HistoryDriver` starts `python -m streaming.job` with FRAUDSTREAM_QUERIES=history at a lower CPU
priority, follows its relayed progress, and holds a floor under it (streaming.history_floor): a
history side that has finished no batch for `history_starved_s` runs at this driver's priority
until it has caught up. A nice level is per thread on Linux, and the child's JVM (a grandchild,
started by PySpark through spark-submit) and its Python workers are processes of their own with
threads of their own, so the floor renices every thread of every process under the child.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from foundation.processes import PROC, process_tree
from foundation.settings import settings_env
from streaming.history_floor import HistoryProgress, floor_nice
from streaming.job_metrics import Relay, StreamMetrics, follow_relay
from streaming.settings import StreamSettings

# How a history driver started by this module finds its parent: the pipe it relays metrics on, and
# the parent's pid (it dies with the parent). Set by HistoryDriver, not by users.
RELAY_FD_VARIABLE = "FRAUDSTREAM_RELAY_FD"
PARENT_PID_VARIABLE = "FRAUDSTREAM_PARENT_PID"

log = logging.getLogger("fraudstream.stream")


def threads(pid: int, proc: Path = PROC) -> list[int]:
    """The thread ids of a process (its pid alone where /proc has no task list)."""
    tids = [int(task.name) for task in (proc / str(pid) / "task").glob("[0-9]*")]
    return tids or [pid]


def renice_tree(root: int, nice: int) -> int:
    """Set every thread of `root` and of every process under it to `nice`; returns how many changed.

    Raises PermissionError when lowering a nice level is not allowed (no CAP_SYS_NICE, RLIMIT_NICE
    too low). Threads that exit meanwhile are skipped.
    """
    changed = 0
    for pid in process_tree(root):
        for tid in threads(pid):
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) != nice:
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
                    changed += 1
            except ProcessLookupError:
                continue
    return changed


class HistoryDriver:
    """The history queries in a second driver: `python -m streaming.job` with queries=history, a
    child process at CPU priority `history_nice` (StreamSettings.history_apart).

    Spark's FAIR pools only order tasks that wait: a history task that holds a core holds it for
    its whole length (tens of seconds at high rates), and the hot query's tasks queue behind it. Two
    drivers leave that to the kernel, which gives the hot driver's threads the cores whenever they
    want them and the history driver the rest, and the floor (`history_starved_s`) keeps "the rest"
    from being nothing. The child reads the settings passed here (as FRAUDSTREAM_* variables),
    writes its logs where this process does, relays its progress and dead-letter counts to `metrics`
    (streaming.job_metrics.Relay) and dies with this process.
    """

    def __init__(
        self,
        settings: StreamSettings,
        metrics: StreamMetrics,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        output: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        floor_every_s: float = 5.0,
    ) -> None:
        """`output`: a file for the child's logs (appended); None, where this process writes them."""
        from streaming.job import QUERY_PARTS

        self.settings, self.metrics, self.on_progress, self.output = settings, metrics, on_progress, output
        self.process: subprocess.Popen[bytes] | None = None
        self._relay: threading.Thread | None = None
        self._floor: threading.Thread | None = None
        self._stopping = threading.Event()
        self._clock, self._floor_every_s = clock, floor_every_s
        self.base = os.getpriority(os.PRIO_PROCESS, 0)  # this driver's own level: the floor
        self.nice = min(self.base + settings.history_nice, 19)
        self.progress = HistoryProgress(QUERY_PARTS["history"], clock(), settings)
        self._floor_refused = False

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        env = {
            **os.environ,
            **settings_env(self.settings),
            "FRAUDSTREAM_QUERIES": "history",
            "FRAUDSTREAM_METRICS_PORT": "0",
            RELAY_FD_VARIABLE: str(write_fd),
            PARENT_PID_VARIABLE: str(os.getpid()),
        }
        out = self.output.open("ab") if self.output is not None else None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streaming.job"],
                env=env,
                pass_fds=(write_fd,),
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
            )
        finally:
            os.close(write_fd)
            if out is not None:
                out.close()
        lines = os.fdopen(read_fd, "r", encoding="utf-8")
        self._relay = threading.Thread(
            target=follow_relay,
            args=(lines, self.metrics, self._on_progress, self._on_idle),
            name="history-relay",
            daemon=True,
        )
        self._relay.start()
        self.metrics.history_driver_nice.labels("history").set(self.nice)
        if self.settings.history_starved_s:
            self.start_floor()
        log.info(
            "history driver started",
            extra={"fields": {"pid": self.process.pid, "nice": self.nice}},
        )

    def _on_progress(self, progress: dict[str, Any]) -> None:
        self.progress.batch(progress, self._clock())
        if self.on_progress is not None:
            self.on_progress(progress)

    def _on_idle(self, query: str) -> None:
        self.progress.idle(query, self._clock())

    def start_floor(self) -> None:
        """Check the floor every `floor_every_s` in a thread of its own, until `stop`."""
        self._floor = threading.Thread(target=self._hold_floor, name="history-floor", daemon=True)
        self._floor.start()

    def _hold_floor(self) -> None:
        while not self._stopping.wait(self._floor_every_s):
            try:
                self.apply_floor()
            except Exception:  # the floor must never stop the job
                log.exception("could not apply the history driver's floor")

    def apply_floor(self) -> None:
        """Decide the child's nice level from its progress and set it on all its threads.

        Applied on every tick, not only on a change, so threads the JVM starts later (and Python
        workers it forks) get the level too.
        """
        if self.process is None or self.process.poll() is not None:
            return
        now, last = self._clock(), self.progress.last_batch_at()
        target = floor_nice(now, last, self.progress.caught_up(), self.nice, self.settings, self.base)
        if target < self.nice and self._floor_refused:
            target = self.nice
        try:
            renice_tree(self.process.pid, target)
        except PermissionError:
            self._floor_refused = True
            log.warning(
                "the history driver is starved and its priority cannot be raised: this process may not "
                "lower a nice level (no CAP_SYS_NICE, RLIMIT_NICE too low). Run the job as a user whose "
                f"RLIMIT_NICE allows nice {target} (ulimit -e {20 - target}), or run the history queries "
                "as a driver of their own with cores of their own (FRAUDSTREAM_QUERIES=history, as "
                "deploy/ does); the job keeps going without the floor",
                extra={
                    "fields": {
                        "pid": self.process.pid,
                        "nice": self.nice,
                        "since_last_batch_s": round(now - last, 1),
                    }
                },
            )
            return
        if target != self.nice:
            log.info(
                "history driver priority changed",
                extra={
                    "fields": {
                        "pid": self.process.pid,
                        "nice": target,
                        "was": self.nice,
                        "reason": "starved" if target < self.nice else "caught up",
                        "since_last_batch_s": round(now - last, 1),
                    }
                },
            )
            self.nice = target
            self.metrics.history_driver_nice.labels("history").set(target)

    def exit_code(self) -> int | None:
        """None while the child runs."""
        return self.process.poll() if self.process is not None else None

    def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM (the child stops its queries between batches, as this driver does), then SIGKILL."""
        self._stopping.set()
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        for thread in (self._relay, self._floor):
            if thread is not None:
                thread.join(5)


def as_history_child(settings: StreamSettings) -> Relay | None:
    """In a driver started by HistoryDriver: die with the parent, lower this process's CPU priority
    (the JVM and Python workers it starts inherit it), and return the relay to the parent."""
    fd = os.environ.get(RELAY_FD_VARIABLE)
    if not fd:
        return None
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if str(os.getppid()) != os.environ.get(PARENT_PID_VARIABLE):
        raise SystemExit("the driver that started this history driver is gone")
    if settings.history_nice:
        os.nice(settings.history_nice)
    return Relay(os.fdopen(int(fd), "w", encoding="utf-8"))


def history_apart(settings: StreamSettings, master: str | None) -> bool:
    """Whether `main` runs the history queries in a HistoryDriver: queries=all on a local master."""
    return (
        settings.queries == "all"
        and settings.history_apart
        and master is not None
        and master.startswith("local")
    )
