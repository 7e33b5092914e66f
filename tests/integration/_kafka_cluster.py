"""A three-node KRaft cluster on loopback for the reliability tests, run from the same jars as EmbeddedKafka.

BrokerConfig writes a single-node, dynamic-quorum file (`controller.quorum.bootstrap.servers`, formatted
with `--standalone`). A three-voter quorum is written here as a static one (`controller.quorum.voters`),
which Kafka 4.1's StorageTool formats with no quorum flag at all (`--standalone`,
`--initial-controllers` and `--no-initial-controllers` are for dynamic quorums only).
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from services.kafka.broker import _LOG4J2, BrokerConfig, EmbeddedKafka, KafkaUnavailable, new_cluster_id
from tests.integration.ports import free_ports


@dataclass(frozen=True)
class ClusterNodeConfig(BrokerConfig):
    """One combined broker+controller of a static quorum; `voters` is `id@host:port,...` for all nodes."""

    voters: str = ""
    cluster_id: str = ""

    def server_properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={self.node_id}",
                f"controller.quorum.voters={self.voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.data_dir / 'log'}",
                "num.partitions=3",
                "default.replication.factor=3",
                "min.insync.replicas=2",
                "offsets.topic.replication.factor=3",
                "transaction.state.log.replication.factor=3",
                "transaction.state.log.min.isr=2",
                "share.coordinator.state.topic.replication.factor=3",
                "share.coordinator.state.topic.min.isr=2",
                "unclean.leader.election.enable=false",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                # The log cleaner takes its dedupe buffer (128 MB by default) off the heap at start-up;
                # on a 256 MB heap that failed once with OutOfMemoryError. The test topics are tiny.
                "log.cleaner.dedupe.buffer.size=16777216",
                # A killed node is fenced (and leaves every ISR) after this, not the default 9 s.
                "broker.session.timeout.ms=3000",
                "broker.heartbeat.interval.ms=500",
                "",
            ]
        )


class ClusterNode(EmbeddedKafka):
    def _format(self) -> None:
        cfg = self.config
        assert isinstance(cfg, ClusterNodeConfig)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.props_file.write_text(cfg.server_properties())
        (cfg.data_dir / "log4j2.properties").write_text(
            _LOG4J2.format(log_file=self.log_file, level=cfg.log_level)
        )
        if (cfg.data_dir / "log" / "meta.properties").exists():
            return
        cmd = self._java(
            "kafka.tools.StorageTool", "format", "-t", cfg.cluster_id, "-c", str(self.props_file)
        )
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise KafkaUnavailable(f"formatting {cfg.data_dir} failed: {result.stderr[-2000:]}")


class KafkaCluster:
    """Three nodes started together (a lone voter cannot elect a leader, so start() would never return)."""

    def __init__(self, root: Path, jars_dir: Path, size: int = 3, heap: str = "256m") -> None:
        # Distinct for sure: one port picked twice makes StorageTool refuse the node's listeners.
        picked = free_ports(2 * size)
        ports = list(zip(picked[::2], picked[1::2], strict=True))
        voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports))
        cluster_id = new_cluster_id()
        self.nodes = [
            ClusterNode(
                ClusterNodeConfig(
                    data_dir=root / f"node{i + 1}",
                    jars_dir=jars_dir,
                    port=port,
                    controller_port=controller,
                    node_id=i + 1,
                    heap=heap,
                    voters=voters,
                    cluster_id=cluster_id,
                )
            )
            for i, (port, controller) in enumerate(ports)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> ClusterNode:
        return self.nodes[node_id - 1]

    def start(self, timeout_s: float = 120.0) -> KafkaCluster:
        errors: list[BaseException] = []

        def start_one(node: ClusterNode) -> None:
            try:
                node.start(timeout_s)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start_one, args=(n,)) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise errors[0]
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()  # the data dies with tmp_path: no need for a clean shutdown
