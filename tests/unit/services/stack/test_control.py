"""Stopping what `fraudstream up` started: the group leader first, then what is left of its group."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from foundation.settings import StackSettings
from services.stack import control as stack
from services.stack.control import Component, StackInfo, pid_alive, should_start, stop_pid

# The leader starts a child in its process group (as the feature job's driver starts Spark's JVM),
# and each writes the signals it gets to the log. The leader takes its time to stop, as the job does.
LEADER = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    log = sys.argv[1]
    child = subprocess.Popen([sys.executable, "-c", sys.argv[2], log])
    def term(*_):
        with open(log, "a") as f:
            f.write("leader got SIGTERM\\n")
        time.sleep(0.5)  # stopping queries and the SparkContext
        with open(log, "a") as f:
            f.write("leader stopped\\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, term)
    while child.poll() is None and not os.path.exists(log + ".child"):
        time.sleep(0.02)
    open(log + ".ready", "w").close()
    while True:
        time.sleep(0.1)
    """
)
CHILD = textwrap.dedent(
    """
    import signal, sys, time
    def term(*_):
        with open(sys.argv[1], "a") as f:
            f.write("child got SIGTERM\\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, term)
    open(sys.argv[1] + ".child", "w").close()
    while True:
        time.sleep(0.1)
    """
)
STUBBORN_CHILD = (
    "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "open(sys.argv[1] + '.child', 'w').close(); time.sleep(60)"
)


def _start(tmp_path: Path, child: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "signals.log"
    proc = subprocess.Popen([sys.executable, "-c", LEADER, str(log), child], start_new_session=True)
    deadline = time.monotonic() + 20
    while not Path(str(log) + ".ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the leader did not start"
        time.sleep(0.05)
    return proc, log


def _group_members(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(pgid)], capture_output=True, text=True)
    return [int(pid) for pid, stat in (line.split() for line in out.stdout.splitlines()) if "Z" not in stat]


def test_the_leader_is_asked_first_and_its_group_after(tmp_path: Path) -> None:
    proc, log = _start(tmp_path, CHILD)
    assert stop_pid(proc.pid, timeout_s=10)
    proc.wait(timeout=5)
    assert log.read_text().splitlines() == ["leader got SIGTERM", "leader stopped", "child got SIGTERM"]
    assert _group_members(proc.pid) == []


def test_a_child_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    proc, log = _start(tmp_path, STUBBORN_CHILD)
    assert stop_pid(proc.pid, timeout_s=2)
    proc.wait(timeout=5)
    assert log.read_text().splitlines() == ["leader got SIGTERM", "leader stopped"]
    assert _group_members(proc.pid) == []


def test_nothing_to_stop() -> None:
    assert not pid_alive(None)
    assert not stop_pid(None)


def test_a_stack_json_written_before_healing_still_loads(tmp_path: Path) -> None:
    # The format of `up` before ports, start times and the supervisor were recorded.
    old = {
        "kafka": {"name": "kafka", "pid": None, "address": "b:9092", "log": ""},
        "stream": {"name": "stream", "pid": 12, "address": "http://127.0.0.1:9108/metrics", "log": "s.log"},
        "scorer": {"name": "scorer", "pid": 13, "address": "http://127.0.0.1:8000", "log": "c.log"},
        "delta": {"swipes": "/d/swipes"},
    }
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(old))
    info = StackInfo.load(path)
    assert info is not None
    assert (info.stream.pid, info.stream.port, info.stream.started_at) == (12, None, None)
    assert info.supervisor is None and info.delta == {"swipes": "/d/swipes"}


def test_stack_json_round_trips_with_a_supervisor(tmp_path: Path) -> None:
    info = StackInfo(
        kafka=Component("kafka", 1, "127.0.0.1:9092", port=9092, started_at=10.0),
        stream=Component("stream", 2, "http://127.0.0.1:9108/metrics", port=9108, started_at=11.0),
        scorer=Component("scorer", 3, "http://127.0.0.1:8000", port=8000, started_at=12.0),
        supervisor=Component("supervisor", 4, "http://127.0.0.1:9110/metrics", port=9110, started_at=13.0),
    )
    info.save(tmp_path / "stack.json")
    assert StackInfo.load(tmp_path / "stack.json") == info
    assert list(tmp_path.iterdir()) == [tmp_path / "stack.json"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("recorded", "wanted", "running", "start"),
    [
        (False, True, False, True),  # a new stack: everything starts
        (False, False, False, True),  # even what the supervisor did not ask for: there is nothing yet
        (True, True, False, True),  # crashed: `up` brings it back
        (True, True, True, False),  # healthy: left alone
        (True, False, False, False),  # crashed, but the supervisor restarts another component now
        (True, False, True, False),
    ],
)
def test_what_heal_starts(recorded: bool, wanted: bool, running: bool, start: bool) -> None:
    assert should_start(recorded, wanted, running) is start


@pytest.mark.parametrize(
    ("name", "port", "bootstrap", "expected"),
    [
        (
            "stream",
            9108,
            "b:9092",
            {"FRAUDSTREAM_METRICS_PORT": "9108", "FRAUDSTREAM_KAFKA_BOOTSTRAP": "b:9092"},
        ),
        ("scorer", 8001, "b:9092", {"FRAUDSTREAM_PORT": "8001", "FRAUDSTREAM_KAFKA_BOOTSTRAP": "b:9092"}),
        ("supervisor", 9110, None, {"FRAUDSTREAM_SUPERVISOR_PORT": "9110"}),
    ],
)
def test_a_components_process_gets_the_stacks_settings_not_only_the_environment(
    tmp_path: Path, name: str, port: int, bootstrap: str | None, expected: dict[str, str]
) -> None:
    demo = StackSettings(state_dir=tmp_path / "demo")
    environ = {"FRAUDSTREAM_STATE_DIR": str(tmp_path), "PATH": "/bin", "FRAUDSTREAM_PORT": "1"}
    env = stack.service_env(demo, name, port, bootstrap, environ)
    assert env == {
        **environ,
        "FRAUDSTREAM_STATE_DIR": str(tmp_path / "demo"),
        "PYTHONUNBUFFERED": "1",
        **expected,
    }
    assert environ["FRAUDSTREAM_STATE_DIR"] == str(tmp_path)  # the caller's environment is left alone
