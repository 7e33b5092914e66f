"""The image's entrypoint turns each role into the right command line (spark-submit, java, ...)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streaming import job
from tests.unit.deploy.reference import DEPLOY

ENTRYPOINT = DEPLOY / "docker" / "entrypoint.sh"
# Stands in for spark-submit, spark-class and java: prints its own name and arguments as JSON.
_RECORDER = """#!{python}
import json, os, sys
print(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]))
"""


class Entrypoint:
    """Runs the entrypoint with recorders on PATH; returns the command line it exec'd."""

    def __init__(self, env: dict[str, str], jars: list[str]) -> None:
        self.env = env
        self.jars = jars

    def __call__(self, *args: str, **env: str) -> list[str]:
        result = subprocess.run(
            ["sh", str(ENTRYPOINT), *args], env=self.env | env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return list(json.loads(result.stdout))


@pytest.fixture
def run(tmp_path: Path) -> Entrypoint:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("spark-submit", "spark-class", "java"):
        (bin_dir / name).write_text(_RECORDER.format(python=sys.executable))
        (bin_dir / name).chmod(0o755)
    jars = tmp_path / "jars" / "spark"
    jars.mkdir(parents=True)
    for jar in ("delta-spark.jar", "hadoop-aws.jar", "spark-sql-kafka.jar"):
        (jars / jar).touch()
    base = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "FRAUDSTREAM_JARS_DIR": str(tmp_path / "jars"),
        "SPARK_HOME": "/spark",
    }
    return Entrypoint(base, sorted(str(p) for p in jars.glob("*.jar")))


def test_feature_job_submits_the_installed_job_with_jars_and_s3a(run: Entrypoint) -> None:
    cmd = run(
        "feature-job",
        FRAUDSTREAM_SPARK_MASTER="spark://spark-master:7077",
        S3A_ENDPOINT="http://minio:9000",
        AWS_ACCESS_KEY_ID="ak",
        AWS_SECRET_ACCESS_KEY="sk",
        SPARK_DRIVER_HOST="feature-job",
    )
    assert cmd[0] == "spark-submit"
    assert cmd[cmd.index("--master") + 1] == "spark://spark-master:7077"
    assert cmd[cmd.index("--jars") + 1].split(",") == run.jars
    confs = {cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--conf"}
    assert {
        "spark.hadoop.fs.s3a.endpoint=http://minio:9000",
        "spark.hadoop.fs.s3a.path.style.access=true",
        "spark.hadoop.fs.s3a.access.key=ak",
        "spark.hadoop.fs.s3a.secret.key=sk",
        "spark.driver.host=feature-job",
    } <= confs
    assert Path(cmd[-1]) == Path(job.__file__)


@pytest.mark.parametrize(
    ("queries", "name"),
    [
        ({}, "fraudstream-features"),
        ({"FRAUDSTREAM_QUERIES": "all"}, "fraudstream-features"),
        ({"FRAUDSTREAM_QUERIES": "hot"}, "fraudstream-features-hot"),
        ({"FRAUDSTREAM_QUERIES": "history"}, "fraudstream-features-history"),
    ],
)
def test_each_driver_of_the_job_is_named_after_its_part_and_reads_the_part_from_its_env(
    run: Entrypoint, queries: dict[str, str], name: str
) -> None:
    cmd = run("feature-job", FRAUDSTREAM_SPARK_MASTER="spark://m:7077", **queries)
    assert cmd[cmd.index("--name") + 1] == name
    # The part reaches the job as FRAUDSTREAM_QUERIES, as every setting does: the two drivers'
    # command lines differ in the application's name only.
    other = run("feature-job", FRAUDSTREAM_SPARK_MASTER="spark://m:7077", FRAUDSTREAM_QUERIES="other")
    assert [a for a in cmd if a != name] == [a for a in other if a != "fraudstream-features-other"]


def test_feature_job_without_s3_credentials_passes_no_s3a_conf(run: Entrypoint) -> None:
    cmd = run("feature-job", FRAUDSTREAM_SPARK_MASTER="spark://m:7077")
    assert not [arg for arg in cmd if "s3a" in arg]


def test_feature_job_refuses_to_start_without_a_master(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "FRAUDSTREAM_JARS_DIR": str(tmp_path)}
    result = subprocess.run(["sh", str(ENTRYPOINT), "feature-job"], env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "FRAUDSTREAM_SPARK_MASTER" in result.stderr


def test_worker_registers_with_the_configured_master(run: Entrypoint) -> None:
    cmd = run("spark-worker", FRAUDSTREAM_SPARK_MASTER="spark://spark-master:7077")
    assert cmd[:2] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
    assert cmd[-1] == "spark://spark-master:7077"


def test_kubernetes_executor_gets_the_driver_jvm_options_in_order(run: Entrypoint) -> None:
    cmd = run(
        "executor",
        SPARK_EXECUTOR_MEMORY="4g",
        SPARK_JAVA_OPT_0="-Dspark.driver.port=7078",
        SPARK_JAVA_OPT_1="-Dspark.app.id=spark-1 with space",
        SPARK_DRIVER_URL="spark://CoarseGrainedScheduler@driver-svc:7078",
        SPARK_EXECUTOR_ID="3",
        SPARK_EXECUTOR_CORES="4",
        SPARK_APPLICATION_ID="spark-1",
        SPARK_EXECUTOR_POD_IP="10.0.0.7",
        SPARK_EXECUTOR_POD_NAME="features-exec-3",
    )
    backend = cmd.index("org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend")
    assert cmd[:backend] == [
        "java",
        "-Xms4g",
        "-Xmx4g",
        "-cp",
        f"/spark/jars/*:{Path(run.jars[0]).parent}/*",
        "-Dspark.driver.port=7078",
        "-Dspark.app.id=spark-1 with space",
    ]
    args = cmd[backend + 1 :]
    assert dict(zip(args[::2], args[1::2], strict=True)) == {
        "--driver-url": "spark://CoarseGrainedScheduler@driver-svc:7078",
        "--executor-id": "3",
        "--cores": "4",
        "--app-id": "spark-1",
        "--hostname": "10.0.0.7",
        "--resourceProfileId": "0",
        "--podName": "features-exec-3",
    }


def test_kubernetes_driver_runs_spark_submit_in_client_mode_on_the_pod_address(run: Entrypoint) -> None:
    cmd = run(
        "driver",
        "--properties-file",
        "/opt/spark/conf/spark.properties",
        "local:///job.py",
        SPARK_DRIVER_BIND_ADDRESS="10.0.0.5",
    )
    assert cmd[:3] == ["spark-submit", "--deploy-mode", "client"]
    assert "spark.driver.bindAddress=10.0.0.5" in cmd
    assert cmd[-3:] == ["--properties-file", "/opt/spark/conf/spark.properties", "local:///job.py"]


def test_any_other_command_is_run_as_is(run: Entrypoint) -> None:
    assert run("java", "-version") == ["java", "-version"]
