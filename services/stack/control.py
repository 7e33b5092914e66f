"""`fraudstream up / down / status`: run the embedded stack as background processes, find them, heal them.

`up` is idempotent: it starts each component that does not run (Kafka, the feature job, the
scorer) and leaves running ones alone, so after a crash it brings back just what died. The job
resumes from its checkpoint and the scorer re-reads its table from the tile topic, as at any start.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from foundation.settings import StackSettings, derive
from foundation.tables import table_paths
from foundation.topics import ensure_stack_topics
from services.kafka.broker import BrokerConfig, EmbeddedKafka, KafkaUnavailable, broker_reachable
from services.stack.processes import kill_group, pid_alive, spawn, stop_pid

__all__ = [
    "COMPONENTS",
    "Component",
    "StackError",
    "StackInfo",
    "down",
    "heal",
    "pid_alive",
    "status",
    "stop_pid",
    "up",
]


class StackError(RuntimeError):
    """Something about the running stack that the user can fix; the message says what to do next."""


COMPONENTS = ("kafka", "stream", "scorer")
# How long a freshly started component may take to answer: Spark's first start is the slow one.
READY_TIMEOUT_S = {"stream": 180.0, "scorer": 120.0}


@dataclass
class Component:
    name: str
    pid: int | None
    address: str
    log: str = ""
    port: int | None = None
    started_at: float | None = None  # wall-clock seconds since the epoch of this process's start


@dataclass
class StackInfo:
    """What `up` started, saved to <state_dir>/stack.json so `down`, `status` and the supervisor find it."""

    kafka: Component
    stream: Component
    scorer: Component
    delta: dict[str, str] = field(default_factory=dict)
    supervisor: Component | None = None

    def component(self, name: str) -> Component:
        found = getattr(self, name)
        assert isinstance(found, Component), name
        return found

    def save(self, path: Path) -> None:
        """Write atomically: a reader (the supervisor, `status`) never sees half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> StackInfo | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        supervisor = raw.get("supervisor")
        return cls(
            kafka=Component(**raw["kafka"]),
            stream=Component(**raw["stream"]),
            scorer=Component(**raw["scorer"]),
            delta=raw.get("delta", {}),
            supervisor=Component(**supervisor) if supervisor else None,
        )


def stack_file(settings: StackSettings) -> Path:
    return settings.state_dir / "stack.json"


@contextmanager
def stack_lock(settings: StackSettings) -> Iterator[None]:
    """One `up`, `down` or supervisor restart at a time per state folder, so none starts a twin."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / "stack.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def ready_url(component: Component) -> str:
    """What answers 200 once the component serves: the job's /metrics, the scorer's /readyz."""
    return f"{component.address}/readyz" if component.name == "scorer" else component.address


def kafka_running(settings: StackSettings, kafka: Component) -> bool:
    if kafka.pid is None:  # an external cluster: not ours to start
        return broker_reachable(kafka.address, timeout_s=5.0)
    return pid_alive(kafka.pid)


def start_kafka(settings: StackSettings) -> Component:
    """Start the embedded broker (its data kept: topics and offsets survive), or check the external one."""
    if not settings.embedded:
        if not broker_reachable(settings.bootstrap, timeout_s=5.0):
            raise KafkaUnavailable(
                f"Kafka at {settings.bootstrap} is not reachable; check FRAUDSTREAM_KAFKA_BOOTSTRAP or unset "
                "it to start the embedded broker"
            )
        return Component("kafka", None, settings.bootstrap)
    broker = EmbeddedKafka(
        BrokerConfig(
            data_dir=settings.state_dir / "kafka",
            jars_dir=settings.jars_dir,
            port=settings.embedded_kafka_port,
        )
    )
    broker.start()
    return Component(
        "kafka",
        broker.process.pid if broker.process else None,
        broker.bootstrap,
        str(broker.log_file),
        port=settings.embedded_kafka_port,
        started_at=time.time(),
    )


_PORT_VARIABLES = {
    "stream": "FRAUDSTREAM_METRICS_PORT",
    "scorer": "FRAUDSTREAM_PORT",
    "supervisor": "FRAUDSTREAM_SUPERVISOR_PORT",
}


def service_env(
    settings: StackSettings, name: str, port: int, bootstrap: str | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """The environment of a component's process: `environ` with what the stack resolved on top (the
    state folder, the component's port, the broker it runs against unless None), so a command's
    settings reach its processes, not only what its own environment said."""
    env = dict(environ, FRAUDSTREAM_STATE_DIR=str(settings.state_dir))
    env[_PORT_VARIABLES[name]] = str(port)
    if bootstrap is not None:
        env["FRAUDSTREAM_KAFKA_BOOTSTRAP"] = bootstrap
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _start_service(
    settings: StackSettings, name: str, port: int, bootstrap: str
) -> tuple[Component, subprocess.Popen[bytes]]:
    """Spawn the feature job (`python -m streaming.job`) or the scorer (`python -m scoring`)."""
    log = settings.state_dir / "logs" / f"{name}.log"
    env = service_env(settings, name, port, bootstrap, os.environ)
    if name == "stream":
        proc = spawn([sys.executable, "-m", "streaming.job"], log, env)
        address = f"http://127.0.0.1:{port}/metrics"
    else:
        proc = spawn([sys.executable, "-m", "scoring"], log, env)
        address = f"http://127.0.0.1:{port}"
    return Component(name, proc.pid, address, str(log), port=port, started_at=time.time()), proc


def should_start(recorded: bool, wanted: bool, running: bool) -> bool:
    """Whether `heal` starts a component: a new stack starts everything; a known one, what it asks
    for (`wanted`) that does not run. A running component is never started twice."""
    return not recorded or (wanted and not running)


def heal(
    settings: StackSettings,
    scorer_port: int = 8000,
    metrics_port: int = 9108,
    only: Collection[str] = COMPONENTS,
) -> tuple[StackInfo, list[str]]:
    """Start each component in `only` that does not run, leave the rest alone; wait until they answer.

    Returns the stack and the names started. A component restarted keeps the port it had, so its
    clients find it where they did. If a start fails, what this call started is stopped again.
    """
    with stack_lock(settings):
        path = stack_file(settings)
        before = StackInfo.load(path)
        started: list[str] = []
        procs: dict[str, subprocess.Popen[bytes]] = {}
        info = before
        try:
            old_kafka = before.kafka if before else None
            wanted = "kafka" in only
            running = old_kafka is not None and wanted and kafka_running(settings, old_kafka)
            if old_kafka is None or should_start(True, wanted, running):
                if old_kafka is not None:
                    kill_group(old_kafka.pid)
                kafka = start_kafka(settings)
                if kafka.pid is not None:  # an external cluster was only checked, not started
                    started.append("kafka")
            else:
                kafka = old_kafka
            ensure_stack_topics(settings.model_copy(update={"kafka_bootstrap": kafka.address}))
            services: dict[str, Component] = {}
            for name, default_port in (("stream", metrics_port), ("scorer", scorer_port)):
                old = before.component(name) if before else None
                if old is not None and not should_start(True, name in only, pid_alive(old.pid)):
                    services[name] = old
                    continue
                if old is not None:
                    kill_group(old.pid)  # what a killed leader left behind (the job's JVM)
                port = old.port if old is not None and old.port else default_port
                services[name], procs[name] = _start_service(settings, name, port, kafka.address)
                started.append(name)
            if before is not None:
                delta = before.delta
            else:
                from streaming.settings import StreamSettings

                delta = table_paths(derive(StreamSettings, settings).delta_path)
            info = StackInfo(
                kafka, services["stream"], services["scorer"], delta, before.supervisor if before else None
            )
            info.save(path)
            for name in ("scorer", "stream"):
                if name in procs:
                    comp = info.component(name)
                    wait_http(
                        ready_url(comp), READY_TIMEOUT_S[name], procs[name], f"the {name} (log: {comp.log})"
                    )
        except BaseException:
            _undo(settings, info, started, keep_file=before is not None)
            raise
    return info, started


def _undo(settings: StackSettings, info: StackInfo | None, started: list[str], keep_file: bool) -> None:
    """Stop what a failed `heal` started; forget the stack if it had started all of it."""
    if info is not None:
        for name in ("scorer", "stream", "kafka"):
            if name in started:
                stop_pid(info.component(name).pid)
    if not keep_file:
        stack_file(settings).unlink(missing_ok=True)


def up(settings: StackSettings, scorer_port: int = 8000, metrics_port: int = 9108) -> StackInfo:
    """Start what is not up of Kafka (unless FRAUDSTREAM_KAFKA_BOOTSTRAP is set), the job and the scorer."""
    return heal(settings, scorer_port=scorer_port, metrics_port=metrics_port)[0]


def start_supervisor(settings: StackSettings, port: int) -> tuple[Component, bool]:
    """Run `python -m services.stack.supervisor` unless one runs; (its component, started now)."""
    with stack_lock(settings):
        info = StackInfo.load(stack_file(settings))
        if info is None:
            raise StackError("no stack to supervise; start it with `fraudstream up --supervise`")
        if info.supervisor is not None and pid_alive(info.supervisor.pid):
            return info.supervisor, False
        log = settings.state_dir / "logs" / "supervisor.log"
        # The supervisor reads the stack's own Kafka setting: an embedded broker stays one it may restart.
        env = service_env(settings, "supervisor", port, None, os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        proc = spawn([sys.executable, "-m", "services.stack.supervisor"], log, env)
        info.supervisor = Component(
            "supervisor", proc.pid, f"http://127.0.0.1:{port}/metrics", str(log), port, time.time()
        )
        info.save(stack_file(settings))
    try:
        wait_http(info.supervisor.address, 30, proc, f"the supervisor (log: {log})")
    except StackError:
        stop_pid(proc.pid)
        raise
    return info.supervisor, True


def down(settings: StackSettings) -> list[str]:
    """Stop the supervisor first (so it restarts nothing), then the scorer, the job and Kafka."""
    info = StackInfo.load(stack_file(settings))
    if info is None:
        return []
    stopped = ["supervisor"] if info.supervisor and stop_pid(info.supervisor.pid) else []
    with stack_lock(settings):
        # Read again: the supervisor may have restarted a component (a new pid) before it stopped.
        info = StackInfo.load(stack_file(settings)) or info
        stopped += [c.name for c in (info.scorer, info.stream, info.kafka) if stop_pid(c.pid)]
        stack_file(settings).unlink(missing_ok=True)
    return stopped


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def status(
    settings: StackSettings,
    answers: Callable[[str], bool] = _answers,
    kafka_answers: Callable[[str], bool] = lambda b: broker_reachable(b, timeout_s=1.0),
    now: Callable[[], float] = time.time,
) -> dict[str, object]:
    """Each component's pid, health (ready, starting, dead, external), uptime and address; the Delta paths."""
    from services.stack.status import describe

    info = StackInfo.load(stack_file(settings))
    return describe(settings, info, answers, kafka_answers, now())
