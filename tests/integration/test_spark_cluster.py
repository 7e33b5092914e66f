"""The feature job on a real Spark standalone cluster (master + worker), submitted with spark-submit."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pyspark
import pytest

from foundation.settings import StackSettings
from streaming.card_state import FeatureConfig
from streaming.schema import CardTile, from_kafka
from tests.eventually import assert_eventually
from tests.integration._processes import process_group, tail
from tests.integration._stream_support import TopicReader, card, merged_features, produce, swipe
from tests.integration.ports import free_port, free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPARK_HOME = Path(pyspark.__file__).resolve().parent
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _spark_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(tmp_path / "logs"),
        # Executors start Python workers with this interpreter: the venv's, which has fraudstream installed.
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        # Only the RPC and UI ports the test picked: no REST submission server on the fixed port 6066.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }


def _alive_workers(ui_port: int) -> int:
    """Workers the master counts as alive, from its web UI's JSON; AssertionError until it answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as resp:
            return int(json.load(resp)["aliveworkers"])
    except (OSError, ValueError, KeyError) as exc:  # not listening yet, or an empty body while starting
        raise AssertionError(f"the master UI on port {ui_port} does not answer yet: {exc}") from exc


@pytest.fixture
def spark_cluster(tmp_path: Path) -> Iterator[str]:
    """A standalone master and one 1-core worker from pyspark's own classes; yields the master URL."""
    env = _spark_env(tmp_path)
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, ui_port = free_ports(2)
    master_url = f"spark://127.0.0.1:{port}"
    master_ports = ["--port", str(port), "--webui-port", str(ui_port)]
    with ExitStack() as stack:
        master = stack.enter_context(
            process_group(
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", *master_ports],
                env,
                tmp_path / "master.log",
            )
        )
        worker_cmd = [spark_class, "org.apache.spark.deploy.worker.Worker", master_url]
        worker_cmd += ["--host", "127.0.0.1", "--webui-port", str(free_port()), "--cores", "1"]
        worker_cmd += ["--memory", "1g", "--work-dir", str(tmp_path / "work")]

        def master_up() -> int:
            assert master.poll() is None, f"master exited: {tail(tmp_path / 'master.log')}"
            return _alive_workers(ui_port)

        def worker_registered() -> None:
            alive = master_up()
            assert alive == 1, f"{alive} workers alive; worker log: {tail(tmp_path / 'worker.log')}"

        assert_eventually(master_up, timeout=60)
        stack.enter_context(process_group(worker_cmd, env, tmp_path / "worker.log"))
        assert_eventually(worker_registered, timeout=60)
        yield master_url


def test_feature_job_runs_on_standalone_cluster(
    spark_cluster: str, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    swipes_topic = topic_factory("swipes")
    features_topic = topic_factory("card-tiles", compacted=True)
    jars = sorted(str(p) for p in (StackSettings().jars_dir / "spark").glob("*.jar"))
    env = {
        **_spark_env(tmp_path),
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "FRAUDSTREAM_TOPIC_SWIPES": swipes_topic,
        "FRAUDSTREAM_TOPIC_TILES": features_topic,
        "FRAUDSTREAM_TOPIC_LABELS": topic_factory("labels"),
        "FRAUDSTREAM_TOPIC_DECISIONS": topic_factory("decisions"),
        "FRAUDSTREAM_STATE_DIR": str(tmp_path / "state"),
        "FRAUDSTREAM_DELTA_ROOT": str(tmp_path / "delta"),
        "FRAUDSTREAM_CHECKPOINT_ROOT": str(tmp_path / "checkpoints"),
        "FRAUDSTREAM_SHUFFLE_PARTITIONS": "1",
        "FRAUDSTREAM_TRIGGER_S": "1",
        "FRAUDSTREAM_WATERMARK_S": "60",
        "FRAUDSTREAM_METRICS_PORT": "0",
    }
    submit = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master",
        spark_cluster,
        # The job also names these jars in spark.jars, but a driver started by spark-submit has already
        # built its classpath by then: the Kafka source and Delta must be given here.
        "--jars",
        ",".join(jars),
        "--conf",
        "spark.executor.memory=768m",
        "--conf",
        "spark.cores.max=1",
        "--driver-memory",
        "1g",
        str(PROJECT_ROOT / "streaming" / "job.py"),
    ]
    cards = [card(n) for n in (0x51, 0x52, 0x53)]
    reader = TopicReader(kafka_bootstrap, features_topic)
    log = tmp_path / "job.log"
    try:
        with process_group(submit, env, log) as job:
            produce(
                kafka_bootstrap,
                swipes_topic,
                [swipe(f"s-{i}", cards[i % 3], minutes=i, amount=10.0 + i) for i in range(6)],
            )

            def features_arrived() -> set[str]:
                assert job.poll() is None, f"the job exited with {job.returncode}: {tail(log)}"
                tokens = {from_kafka(CardTile, value).card_token for _, value in reader.poll_all()}
                assert tokens == set(cards), f"features for {len(tokens)} of 3 cards so far"
                return tokens

            started = time.monotonic()
            assert_eventually(features_arrived, timeout=180, interval=1.0)
            print(f"features arrived {time.monotonic() - started:.0f}s after submit")

            # Two swipes per card went in; the cluster's tiles must hold both of them.
            def both_swipes_tiled() -> None:
                merged = merged_features(reader.poll_all(), FeatureConfig())
                assert {tok: f.profile.swipes for tok, f in merged.items()} == dict.fromkeys(cards, 2)

            assert_eventually(both_swipes_tiled, timeout=60, interval=1.0)
    finally:
        reader.close()
