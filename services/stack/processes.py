"""The stack's child processes: start one as its own group leader, tell whether it lives, stop its group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def group_alive(pgid: int) -> bool:
    """Whether any process other than a zombie is still in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _wait(alive: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_pid(pid: int | None, timeout_s: float = 30.0) -> bool:
    """Stop a process we started as a group leader. True if something was stopped.

    SIGTERM goes to the leader alone first: the feature job's Python driver then stops its queries
    and its SparkContext in order, which a signal to the whole group (the JVM too) would race.
    Whatever of the group outlives it gets SIGTERM, then SIGKILL.
    """
    if not pid_alive(pid):
        return False
    assert pid is not None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    _wait(lambda: pid_alive(pid), timeout_s)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive(pid):
            return True
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            os.kill(pid, sig)
        _wait(lambda: group_alive(pid), timeout_s)
    return True


def kill_group(pid: int | None) -> None:
    """SIGKILL a leftover group of a leader that is already gone (the JVM of a killed job, say)."""
    if pid and group_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        _wait(lambda: group_alive(pid), 10.0)


def spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `args` in a new session (its own process group), appending its output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
