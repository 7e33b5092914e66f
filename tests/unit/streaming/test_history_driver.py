"""The history driver's edges: where the floor finds the child's threads, and what it does when refused."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streaming import history_driver
from streaming.history_driver import HistoryDriver, history_apart, process_tree, threads
from streaming.job_metrics import StreamMetrics
from streaming.settings import StreamSettings

linux_only = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")


def fake_proc(root: Path, parents: dict[int, tuple[str, int]]) -> Path:
    for pid, (comm, ppid) in parents.items():
        (root / str(pid) / "task" / str(pid)).mkdir(parents=True)
        (root / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1\n")
    return root


def test_the_tree_is_the_child_and_everything_under_it(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        {
            1: ("init", 0),
            100: ("python", 1),  # the hot driver
            200: ("python", 100),  # the history driver
            300: ("java", 200),  # its JVM, started by PySpark
            400: ("python3 -m (pyspark.daemon)", 300),  # a comm with spaces and parentheses
            401: ("python3", 400),  # a forked worker
            500: ("java", 100),  # the hot driver's own JVM: not under the child
        },
    )
    (proc / "self").mkdir()
    assert sorted(process_tree(200, proc)) == [200, 300, 400, 401]
    assert process_tree(999, proc) == [999]
    (proc / "300" / "task" / "301").mkdir()
    assert sorted(threads(300, proc)) == [300, 301]
    assert threads(999, proc) == [999]


@pytest.fixture
def child_tree() -> Iterator[subprocess.Popen[str]]:
    """A child at nice 5 with a second thread and a grandchild process, as the history driver's
    Python, JVM threads and workers are: it prints the grandchild's pid and the thread's id."""
    script = (
        "import os, subprocess, sys, threading, time\n"
        "os.nice(5)\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "ready = threading.Event()\n"
        "def work():\n"
        "    print(grandchild.pid, threading.get_native_id(), flush=True); ready.set(); time.sleep(60)\n"
        "threading.Thread(target=work, daemon=True).start()\n"
        "ready.wait(); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        yield child
    finally:
        for pid in process_tree(child.pid)[1:]:
            os.kill(pid, 9)
        child.kill()
        child.wait(10)


@linux_only
def test_a_nice_level_reaches_every_thread_of_every_process_under_the_child(
    child_tree: subprocess.Popen[str],
) -> None:
    assert child_tree.stdout is not None
    grandchild, thread = (int(x) for x in child_tree.stdout.readline().split())
    base = os.getpriority(os.PRIO_PROCESS, 0)
    # setpriority on the child's pid is not enough: on Linux it sets that one thread only.
    os.setpriority(os.PRIO_PROCESS, child_tree.pid, base + 7)
    assert os.getpriority(os.PRIO_PROCESS, thread) == base + 5
    assert os.getpriority(os.PRIO_PROCESS, grandchild) == base + 5
    # Raising a nice level needs no privilege, so this runs as any user.
    assert history_driver.renice_tree(child_tree.pid, base + 9) >= 3
    tids = [tid for pid in process_tree(child_tree.pid) for tid in threads(pid)]
    assert {thread, grandchild, child_tree.pid} <= set(tids)
    assert {os.getpriority(os.PRIO_PROCESS, tid) for tid in tids} == {base + 9}
    assert history_driver.renice_tree(child_tree.pid, base + 9) == 0, "applied again: nothing to change"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HistoryDriver, Clock, list[int]]]:
    """A HistoryDriver over a stand-in child (a sleep), renicing into a list instead of the kernel."""
    monkeypatch.setattr(history_driver.os, "getpriority", lambda which, who: 0)
    clock, applied = Clock(), list[int]()
    settings = StreamSettings(_env_file=None)  # type: ignore[call-arg]
    it = HistoryDriver(settings, StreamMetrics(CollectorRegistry()), clock=clock)
    it.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    def renice(pid: int, nice: int) -> int:
        applied.append(nice)
        return 0

    monkeypatch.setattr(history_driver, "renice_tree", renice)
    try:
        yield it, clock, applied
    finally:
        it.process.kill()
        it.process.wait(10)


def nice_gauge(it: HistoryDriver) -> float | None:
    return it.metrics.registry.get_sample_value("fraudstream_history_driver_nice", {"driver": "history"})


def test_a_starved_history_driver_is_lifted_then_put_back_and_each_change_is_logged_and_exported(
    driver: tuple[HistoryDriver, Clock, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    it, clock, applied = driver
    caplog.set_level(logging.INFO, "fraudstream.stream")
    it.metrics.history_driver_nice.labels("history").set(it.nice)
    clock.now = 100.0
    it.apply_floor()
    assert (it.nice, applied, nice_gauge(it)) == (10, [10], 10)
    clock.now = 301.0  # no history batch since the start
    it.apply_floor()
    assert (it.nice, applied[-1], nice_gauge(it)) == (0, 0, 0)
    [changed] = [r for r in caplog.records if r.getMessage() == "history driver priority changed"]
    assert changed.fields == {  # type: ignore[attr-defined]
        "pid": it.process.pid,  # type: ignore[union-attr]
        "nice": 0,
        "was": 10,
        "reason": "starved",
        "since_last_batch_s": 301.0,
    }
    for query in ("history", "sessions", "merchant_features"):
        clock.now += 10
        it._on_progress({"name": query, "batchId": 0, "batchDuration": 4000, "sources": []})
    it.apply_floor()
    assert (it.nice, applied[-1], nice_gauge(it)) == (10, 10, 10)
    assert caplog.records[-1].fields["reason"] == "caught up"  # type: ignore[attr-defined]


def test_a_floor_the_kernel_refuses_is_warned_once_and_the_job_goes_on(
    driver: tuple[HistoryDriver, Clock, list[int]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    it, clock, applied = driver

    def refuse(pid: int, nice: int) -> int:
        applied.append(nice)
        if nice < 10:
            raise PermissionError(1, "Operation not permitted")
        return 0

    monkeypatch.setattr(history_driver, "renice_tree", refuse)
    clock.now = 1000.0
    for _ in range(3):
        it.apply_floor()
        clock.now += 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "RLIMIT_NICE" in warnings[0].getMessage()
    assert "FRAUDSTREAM_QUERIES=history" in warnings[0].getMessage()
    assert it.nice == 10 and applied == [0, 10, 10], "asked once, then kept at the level it has"


def test_the_history_queries_run_in_a_second_driver_only_for_the_whole_job_on_a_local_master() -> None:
    cases = [
        # (queries, history_apart, master) -> a HistoryDriver
        (("all", True, "local[2]"), True),
        (("all", True, "local[*]"), True),
        (("all", False, "local[2]"), False),  # FRAUDSTREAM_HISTORY_APART=false: one driver
        (("all", True, "spark://m:7077"), False),  # a cluster: run a driver per part
        (("all", True, None), False),  # under spark-submit, which owns the master
        (("hot", True, "local[2]"), False),
        (("history", True, "local[2]"), False),  # the child itself starts no grandchild
    ]
    for (queries, apart, master), expected in cases:
        settings = StreamSettings(_env_file=None, queries=queries, history_apart=apart)  # type: ignore[call-arg, arg-type]
        assert history_apart(settings, master) is expected, (queries, apart, master)


def test_the_floor_thread_stops_with_the_driver(driver: tuple[HistoryDriver, Clock, list[int]]) -> None:
    it, _, _ = driver
    it._floor_every_s = 0.01
    started = time.monotonic()
    it.start_floor()
    time.sleep(0.1)
    it.stop(timeout_s=1)
    assert it._floor is not None and not it._floor.is_alive()
    assert time.monotonic() - started < 10
