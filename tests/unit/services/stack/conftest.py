"""Fixtures of the stack's unit tests: a state folder's settings, and a pid that no process has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from foundation.settings import StackSettings


@pytest.fixture
def stack_settings(tmp_path: Path) -> StackSettings:
    """Settings of a stack in `tmp_path`, on an external Kafka that nothing answers for."""
    return StackSettings(_env_file=None, state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")  # type: ignore[call-arg]


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped (a kill -9'ed component, as seen later)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
