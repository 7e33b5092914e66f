"""`fraudstream up / down / status`: run the embedded stack as background processes and find them again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from services.kafka_broker import BrokerConfig, EmbeddedKafka, KafkaUnavailable, broker_reachable
from services.settings import StackSettings
from services.topics import ensure_stack_topics


class StackError(RuntimeError):
    """Something about the running stack that the user can fix; the message says what to do next."""


TABLES = ("swipes", "sessions", "dead_letters", "labels", "decisions", "merchant_features")


@dataclass
class Component:
    name: str
    pid: int | None
    address: str
    log: str = ""


@dataclass
class StackInfo:
    """What `up` started, saved to <state_dir>/stack.json so `down` and `status` can find it."""

    kafka: Component
    stream: Component
    scorer: Component
    delta: dict[str, str] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> StackInfo | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(
            kafka=Component(**raw["kafka"]),
            stream=Component(**raw["stream"]),
            scorer=Component(**raw["scorer"]),
            delta=raw.get("delta", {}),
        )


def stack_file(settings: StackSettings) -> Path:
    return settings.state_dir / "stack.json"


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


def _group_alive(pgid: int) -> bool:
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
        if not _group_alive(pid):
            return True
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            os.kill(pid, sig)
        _wait(lambda: _group_alive(pid), timeout_s)
    return True


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def delta_tables(delta_root: str) -> dict[str, str]:
    return {name: f"{delta_root.rstrip('/')}/{name}" for name in TABLES}


def wait_http(
    url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, what: str = ""
) -> None:
    """Wait for `url` to answer 200; the error names the last answer (a /readyz says what is missing)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what or url} exited with code {proc.returncode} during start-up")
        try:
            answer = httpx.get(url, timeout=1.0)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text[:500]}"
        except httpx.HTTPError as exc:
            last = str(exc) or type(exc).__name__
        time.sleep(0.5)
    raise StackError(f"{what or url} did not become ready within {timeout_s:.0f}s; {url} last said: {last}")


def up(settings: StackSettings, scorer_port: int = 8000, metrics_port: int = 9108) -> StackInfo:
    """Start Kafka (unless FRAUDSTREAM_KAFKA_BOOTSTRAP is set), the feature job and the scorer."""
    existing = StackInfo.load(stack_file(settings))
    if existing and any(pid_alive(c.pid) for c in (existing.kafka, existing.stream, existing.scorer)):
        raise StackError(
            "the stack is already running; see `fraudstream status` or stop it with `fraudstream down`"
        )
    logs = settings.state_dir / "logs"
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")

    kafka_pid = None
    if settings.embedded:
        broker = EmbeddedKafka(
            BrokerConfig(
                data_dir=settings.state_dir / "kafka",
                jars_dir=settings.jars_dir,
                port=settings.embedded_kafka_port,
            )
        )
        broker.start()
        kafka_pid = broker.process.pid if broker.process else None
        env["FRAUDSTREAM_KAFKA_BOOTSTRAP"] = broker.bootstrap
    elif not broker_reachable(settings.bootstrap, timeout_s=5.0):
        raise KafkaUnavailable(
            f"Kafka at {settings.bootstrap} is not reachable; check FRAUDSTREAM_KAFKA_BOOTSTRAP or unset it "
            "to start the embedded broker"
        )
    ensure_stack_topics(settings)

    from streaming.settings import StreamSettings

    stream_settings = StreamSettings()
    env["FRAUDSTREAM_METRICS_PORT"] = str(metrics_port)
    stream = _spawn([sys.executable, "-m", "streaming.job"], logs / "stream.log", env)
    env_scorer = dict(env, FRAUDSTREAM_PORT=str(scorer_port))
    scorer = _spawn([sys.executable, "-m", "scoring"], logs / "scorer.log", env_scorer)
    info = StackInfo(
        kafka=Component(
            "kafka", kafka_pid, settings.bootstrap, str(settings.state_dir / "kafka" / "kafka.log")
        ),
        stream=Component(
            "stream", stream.pid, f"http://127.0.0.1:{metrics_port}/metrics", str(logs / "stream.log")
        ),
        scorer=Component("scorer", scorer.pid, f"http://127.0.0.1:{scorer_port}", str(logs / "scorer.log")),
        delta=delta_tables(stream_settings.delta_path),
    )
    info.save(stack_file(settings))
    try:
        wait_http(f"{info.scorer.address}/readyz", 120, scorer, f"the scorer (log: {info.scorer.log})")
        wait_http(info.stream.address, 180, stream, f"the feature job (log: {info.stream.log})")
    except Exception:
        down(settings)
        raise
    return info


def down(settings: StackSettings) -> list[str]:
    """Stop what `up` started, scorer first and Kafka last. Returns the names stopped."""
    info = StackInfo.load(stack_file(settings))
    if info is None:
        return []
    stopped = [c.name for c in (info.scorer, info.stream, info.kafka) if stop_pid(c.pid)]
    stack_file(settings).unlink(missing_ok=True)
    return stopped


def status(settings: StackSettings) -> dict[str, object]:
    """Each component's pid, whether it runs, and its address; plus the Delta table paths."""
    info = StackInfo.load(stack_file(settings))
    if info is None:
        return {
            "running": False,
            "kafka": {"bootstrap": settings.bootstrap},
            "stream": {"pid": None},
            "scorer": {"pid": None, "url": None},
            "delta": {},
        }
    return {
        "running": all(pid_alive(c.pid) for c in (info.stream, info.scorer)),
        "kafka": {
            "pid": info.kafka.pid,
            "alive": pid_alive(info.kafka.pid) or info.kafka.pid is None,
            "bootstrap": info.kafka.address,
            "log": info.kafka.log,
        },
        "stream": {
            "pid": info.stream.pid,
            "alive": pid_alive(info.stream.pid),
            "metrics": info.stream.address,
            "log": info.stream.log,
        },
        "scorer": {
            "pid": info.scorer.pid,
            "alive": pid_alive(info.scorer.pid),
            "url": info.scorer.address,
            "log": info.scorer.log,
        },
        "delta": info.delta,
    }
