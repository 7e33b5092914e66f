"""A bad setting, as a user meets it: the real `fraudstream` entry point prints one line and exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.ports import free_port

pytestmark = pytest.mark.integration

FRAUDSTREAM = Path(sys.executable).parent / "fraudstream"


@pytest.mark.parametrize(
    ("argv", "variable", "value"),
    [
        (["backfill"], "FRAUDSTREAM_HORIZONS_S", "600,x"),
        (["status"], "FRAUDSTREAM_TOPIC_PARTITIONS", "zero"),
    ],
)
def test_a_bad_setting_exits_2_with_one_line_naming_it(
    tmp_path: Path, argv: list[str], variable: str, value: str
) -> None:
    env = {**os.environ, "FRAUDSTREAM_STATE_DIR": str(tmp_path), variable: value}
    done = subprocess.run(
        [str(FRAUDSTREAM), *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {variable}={value!r}: ") and f"e.g. {variable}=" in lines[0]
    assert "Traceback" not in done.stderr


def test_the_feature_job_logs_a_bad_setting_as_one_json_line(tmp_path: Path) -> None:
    env = {**os.environ, "FRAUDSTREAM_STATE_DIR": str(tmp_path), "FRAUDSTREAM_HORIZONS_S": "600;3600"}
    done = subprocess.run(
        [str(FRAUDSTREAM), "stream"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert json.loads(line)["msg"].startswith("FRAUDSTREAM_HORIZONS_S='600;3600': ")


def test_the_comma_form_of_a_list_gets_past_the_settings(tmp_path: Path) -> None:
    # Nothing listens on the port: the job stops at Kafka, after its settings were read.
    env = {
        **os.environ,
        "FRAUDSTREAM_STATE_DIR": str(tmp_path),
        "FRAUDSTREAM_HORIZONS_S": "600,3600,86400",
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
    }
    done = subprocess.run(
        [str(FRAUDSTREAM), "stream"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "is not reachable" in done.stderr and "HORIZONS" not in done.stderr
