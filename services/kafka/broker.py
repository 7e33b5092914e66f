"""The embedded single-node KRaft broker, started from the Maven-resolved Apache Kafka jars."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from foundation.topics import admin_config

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = FILE
"""


def new_cluster_id(random_bytes: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A KRaft cluster id (16 random bytes, URL-safe base64) that does not start with "-".

    StorageTool would read an id that starts with "-" as an option and refuse to format; one in 64
    random ids does. Kafka's own random ids skip those too.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(random_bytes()).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaUnavailable(RuntimeError):
    """Kafka could not be reached or started; the message says what to do next."""


@dataclass(frozen=True)
class BrokerConfig:
    """Where the embedded broker lives and listens."""

    data_dir: Path
    jars_dir: Path
    port: int = 9092
    controller_port: int | None = None
    node_id: int = 1
    heap: str = "512m"
    log_level: str = "WARN"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def controller(self) -> int:
        return self.controller_port or self.port + 1

    def server_properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.data_dir / 'log'}",
                "num.partitions=2",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                # A single-node demo broker: consumers should not wait for more members to join.
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "log.cleaner.backoff.ms=5000",
                "",
            ]
        )


def _classpath(jars_dir: Path) -> str:
    kafka_jars = jars_dir / "kafka"
    if not any(kafka_jars.glob("kafka_2.13-*.jar")):
        raise KafkaUnavailable(
            f"Kafka jars not found in {kafka_jars}; resolve them with `make jars` "
            "(mvn -f deploy/jvm/pom.xml -Pkafka dependency:copy-dependencies) "
            "or point FRAUDSTREAM_KAFKA_BOOTSTRAP at an existing cluster"
        )
    return str(kafka_jars / "*")


def broker_reachable(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when a broker at `bootstrap` answers a metadata request."""
    # log_level 0: a probe that expects "connection refused" should not print it.
    admin = AdminClient(admin_config(bootstrap, {"socket.connection.setup.timeout.ms": 1000, "log_level": 0}))
    try:
        admin.list_topics(timeout=timeout_s)
        return True
    except Exception:
        return False


class EmbeddedKafka:
    """A real Apache Kafka broker in KRaft mode, run as a child JVM.

    `start()` formats the storage once (`kafka.tools.StorageTool format --standalone`), launches
    `kafka.Kafka`, and waits until the broker answers a metadata request. `stop()` sends SIGTERM
    so the broker shuts down cleanly, and SIGKILL only if it does not within the timeout.
    """

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    @property
    def props_file(self) -> Path:
        return self.config.data_dir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.config.data_dir / "kafka.log"

    def _java(self, main: str, *args: str) -> list[str]:
        log4j = self.config.data_dir / "log4j2.properties"
        return [
            os.environ.get("JAVA", "java"),
            f"-Xmx{self.config.heap}",
            f"-Xms{self.config.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            _classpath(self.config.jars_dir),
            main,
            *args,
        ]

    def _format(self) -> None:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.props_file.write_text(cfg.server_properties())
        (cfg.data_dir / "log4j2.properties").write_text(
            _LOG4J2.format(log_file=self.log_file, level=cfg.log_level)
        )
        if (cfg.data_dir / "log" / "meta.properties").exists():
            return
        cmd = self._java(
            "kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", str(self.props_file)
        )
        result = subprocess.run([*cmd, "--standalone"], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise KafkaUnavailable(
                f"formatting Kafka storage in {cfg.data_dir} failed: {result.stderr[-2000:]}"
            )

    def start(self, timeout_s: float = 60.0) -> EmbeddedKafka:
        if broker_reachable(self.bootstrap, timeout_s=1.0):
            raise KafkaUnavailable(
                f"something already answers on {self.bootstrap}; stop it (`fraudstream down`) "
                "or set FRAUDSTREAM_EMBEDDED_KAFKA_PORT to a free port"
            )
        self._format()
        with open(self.config.data_dir / "kafka.stdout", "ab") as out:
            self.process = subprocess.Popen(
                self._java("kafka.Kafka", str(self.props_file)),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KafkaUnavailable(
                    f"Kafka exited with code {self.process.returncode} during start-up; see {self.log_file}"
                )
            if broker_reachable(self.bootstrap, timeout_s=1.0):
                return self
            time.sleep(0.5)
        self.stop()
        raise KafkaUnavailable(
            f"Kafka did not answer on {self.bootstrap} within {timeout_s:.0f}s; see {self.log_file}"
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would; the reliability tests use it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
