"""`fraudstream up` heals: kill -9 the job or the scorer, run `up`, it is back; `--supervise` does it alone.

One stack (the session's broker, fresh topics, a temporary state folder, free ports) serves the
module; each test kills a component with SIGKILL, as the OOM killer or a crash would, and drives
the real `fraudstream` command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from foundation.settings import StackSettings
from services.stack import control as stack
from services.stack.processes import pid_alive
from services.stack.status import restart_counts
from streaming import job
from streaming.schema import CardTile
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually
from tests.integration._stream_support import T0, TopicReader, card, newest_tiles, produce, swipe
from tests.integration.ports import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]


@dataclass
class Stack:
    settings: StackSettings
    env: dict[str, str]
    supervisor_port: int

    def cli(self, *args: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"fraudstream {' '.join(args)}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
        return result

    def status(self) -> dict[str, dict[str, object]]:
        """What `fraudstream status --json` prints, in this process (a CLI start per look is slow)."""
        return json.loads(json.dumps(stack.status(self.settings)))

    def status_cli(self) -> dict[str, dict[str, object]]:
        return json.loads(self.cli("status", "--json", timeout=60).stdout)

    def pid(self, name: str) -> int:
        pid = self.status()[name]["pid"]
        assert isinstance(pid, int), f"{name} has no pid"
        return pid


@pytest.fixture(scope="module")
def running(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("heal")
    suffix = uuid.uuid4().hex[:8]
    scorer_port, metrics_port, supervisor_port = free_ports(3)
    env = {
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "FRAUDSTREAM_STATE_DIR": str(tmp / "state"),
        "FRAUDSTREAM_PORT": str(scorer_port),
        "FRAUDSTREAM_METRICS_PORT": str(metrics_port),
        "FRAUDSTREAM_TRIGGER_S": "0.5",
        "FRAUDSTREAM_HISTORY_TRIGGER_S": "0.5",
        **{
            f"FRAUDSTREAM_TOPIC_{name}": f"{name.lower().replace('_', '-')}-{suffix}"
            for name in ("SWIPES", "TILES", "MERCHANT_FEATURES", "LABELS", "DECISIONS")
        },
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        settings = StackSettings()
        running = Stack(settings, dict(os.environ), supervisor_port)
        try:
            running.cli("train", "--cards", "600", "--days", "4")
            started = running.cli("up", "--detach")
            assert _started(started.stdout) == ["stream", "scorer"]
            yield running
        finally:
            stack.down(settings)


def _started(stdout: str) -> list[str]:
    """The components `fraudstream up` said it started."""
    line = next((x for x in stdout.splitlines() if x.startswith("started: ")), "started: ")
    return [name.strip() for name in line.removeprefix("started: ").split(",") if name.strip()]


def _sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    assert_eventually(lambda: _assert(not pid_alive(pid), f"pid {pid} outlived SIGKILL"), timeout=30)


def _assert(ok: bool, message: str) -> None:
    assert ok, message


def _card_tiles(reader: TopicReader, token: str) -> dict[int, list[CardTile]]:
    """The newest value of each of the card's tiles on the topic, by grain."""
    reader.poll_all(1.0)
    by_grain: dict[int, list[CardTile]] = {}
    for tile in newest_tiles(reader.messages).values():
        if tile.card_token == token:
            by_grain.setdefault(tile.grain_s, []).append(tile)
    return by_grain


def _swipes_counted(reader: TopicReader, token: str, expected: int) -> None:
    by_grain = _card_tiles(reader, token)
    counts = {grain: sum(t.count for t in tiles) for grain, tiles in by_grain.items()}
    assert counts and set(counts.values()) == {expected}, f"swipes counted per tile grain: {counts}"


def _committed_batch(settings: StackSettings) -> int:
    commits = Path(job.tiles_checkpoint(StreamSettings())) / "commits"
    return max((int(p.name) for p in commits.glob("[0-9]*")), default=-1)


def _batch_committed_after(settings: StackSettings, batch: int) -> None:
    newest = _committed_batch(settings)
    assert newest > batch, f"newest committed batch {newest}, not past {batch} from before the kill"


def test_up_leaves_a_healthy_stack_alone_and_brings_back_a_killed_job(running: Stack) -> None:
    before = running.status()
    again = running.cli("up", "--detach")
    assert "everything was already running" in again.stdout and _started(again.stdout) == []
    assert running.status()["stream"]["pid"] == before["stream"]["pid"]
    assert running.status()["scorer"]["pid"] == before["scorer"]["pid"]

    token = card(7001)
    reader = TopicReader(running.settings.bootstrap, running.settings.topic_tiles)
    try:
        produce(running.settings.bootstrap, running.settings.topic_swipes, [swipe("heal-1", token, 0.0)])
        assert_eventually(lambda: _swipes_counted(reader, token, 1), timeout=120, interval=1)
        committed = _committed_batch(running.settings)

        _sigkill(running.pid("stream"))
        dead = running.status_cli()
        assert dead["stream"]["health"] == "dead" and dead["running"] is False
        assert dead["scorer"]["health"] == "ready" and dead["kafka"]["health"] == "external"

        healed = running.cli("up", "--detach")
        assert _started(healed.stdout) == ["stream"]
        after = running.status()
        assert after["stream"]["health"] == "ready" and after["stream"]["pid"] != before["stream"]["pid"]
        assert after["scorer"]["pid"] == before["scorer"]["pid"], "the healthy scorer was restarted"

        # A swipe after the restart is counted on top of the one before: the job's state came back
        # from its checkpoint, nothing counted twice, and its batches go on from where they were.
        produce(running.settings.bootstrap, running.settings.topic_swipes, [swipe("heal-2", token, 0.5)])
        assert_eventually(lambda: _swipes_counted(reader, token, 2), timeout=120, interval=1)
        # The sink writes a batch's tiles before the checkpoint records the batch as committed.
        assert_eventually(
            lambda: _batch_committed_after(running.settings, committed), timeout=60, interval=0.5
        )
    finally:
        reader.close()


def _score(url: str, token: str, minutes: float) -> dict[str, object]:
    body = {
        "swipe_id": f"sw-{uuid.uuid4().hex[:8]}",
        "card_token": token,
        "amount": 12.0,
        "currency": "EUR",
        "merchant_id": "m-1",
        "mcc": "5411",
        "country": "FR",
        "event_time": (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    answer = httpx.post(f"{url}/v1/score?explain=true", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_up_brings_back_a_killed_scorer_with_its_table(running: Stack) -> None:
    token = card(7002)
    reader = TopicReader(running.settings.bootstrap, running.settings.topic_tiles)
    try:
        produce(running.settings.bootstrap, running.settings.topic_swipes, [swipe("heal-3", token, 10.0)])
        assert_eventually(lambda: _swipes_counted(reader, token, 1), timeout=120, interval=1)
    finally:
        reader.close()
    stream_pid, scorer_pid = running.pid("stream"), running.pid("scorer")
    url = str(running.status()["scorer"]["url"])

    _sigkill(scorer_pid)
    assert running.status()["scorer"]["health"] == "dead"
    healed = running.cli("up", "--detach")
    assert _started(healed.stdout) == ["scorer"]
    after = running.status()
    assert after["scorer"]["health"] == "ready" and after["scorer"]["url"] == url
    assert after["stream"]["pid"] == stream_pid, "the healthy job was restarted"

    assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    scored = _score(url, token, 11.0)
    # The new scorer read the card's history back from the tile topic: one streamed swipe + this one.
    assert scored["features_as_of"] == "2026-11-27T09:10:00Z"
    assert scored["inputs"]["velocity_600_count"] == 2  # type: ignore[index]


def _restarts(port: int) -> dict[str, float]:
    return restart_counts(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)


def test_the_supervisor_brings_back_a_killed_scorer_and_counts_it(running: Stack) -> None:
    port = running.supervisor_port
    started = running.cli("up", "--detach", "--supervise", "--supervisor-port", str(port))
    assert _started(started.stdout) == ["supervisor"]
    assert _restarts(port) == {"kafka": 0.0, "stream": 0.0, "scorer": 0.0}
    old = running.pid("scorer")

    _sigkill(old)

    def back() -> dict[str, dict[str, object]]:
        st = running.status()
        assert st["scorer"]["pid"] != old and st["scorer"]["health"] == "ready", st["scorer"]
        # The supervisor counts the restart once its `heal` returns, which can be a moment after
        # the new scorer's /readyz first answers: both are waited for.
        assert _restarts(port) == {"kafka": 0.0, "stream": 0.0, "scorer": 1.0}
        return running.status()

    st = assert_eventually(back, timeout=150, interval=2)
    assert st["supervisor"]["health"] == "ready"
    assert st["supervisor"]["restarts"] == {"kafka": 0.0, "stream": 0.0, "scorer": 1.0}
    assert httpx.get(f"{st['scorer']['url']}/readyz", timeout=5).status_code == 200


def test_the_supervisor_brings_back_a_killed_job_and_down_stops_it_first(running: Stack) -> None:
    port = running.supervisor_port
    assert running.status()["supervisor"]["health"] == "ready", "the previous test started it"
    before = _restarts(port)
    old = running.pid("stream")

    _sigkill(old)

    def back() -> None:
        st = running.status()["stream"]
        assert st["pid"] != old and st["health"] == "ready", st
        assert _restarts(port) == {**before, "stream": before["stream"] + 1}  # counted once heal returns

    assert_eventually(back, timeout=170, interval=2)

    stopped = running.cli("down").stdout
    assert "supervisor, scorer, stream" in stopped
    assert running.status()["running"] is False
