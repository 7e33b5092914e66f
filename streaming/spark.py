"""Build the SparkSession with Delta and the Kafka connector from local jars (no network resolution)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


def connector_jars(jars_dir: Path) -> list[str]:
    """The Kafka connector and Delta jars that deploy/jvm/pom.xml resolved, as local paths."""
    jars = sorted(str(p) for p in (jars_dir / "spark").glob("*.jar"))
    if not any("spark-sql-kafka" in j for j in jars) or not any("delta-spark" in j for j in jars):
        raise RuntimeError(
            f"Spark connector jars not found in {jars_dir / 'spark'}; resolve them with `make jars` "
            "(mvn -f deploy/jvm/pom.xml -Pspark dependency:copy-dependencies)"
        )
    return jars


PANDAS_PADDING_WARNING = (
    "ignore:The behavior of DataFrame concatenation:FutureWarning:pyspark.sql.pandas.serializers"
)


# With the UI off, Spark 4.2's driver still records every SQL execution (its plan and metrics), job,
# stage and task in its status store (SharedState registers the SQL listener regardless), up to
# 1,000 executions, 1,000 jobs and stages and 100,000 tasks a stage. A streaming query adds a few of
# each every trigger, so a driver's heap grows for its first hour or more; nothing reads them here
# (the job's metrics come from query progress), so the driver keeps only the last few.
STATUS_RETENTION = {
    "spark.sql.ui.retainedExecutions": "20",
    "spark.ui.retainedJobs": "50",
    "spark.ui.retainedStages": "50",
    "spark.ui.retainedTasks": "1000",
}


def build_session(
    app_name: str,
    jars_dir: Path,
    master: str | None = "local[2]",
    shuffle_partitions: int = 2,
    extra: dict[str, str] | None = None,
    jars_required: bool = True,
) -> SparkSession:
    """A SparkSession with Delta Lake and the Kafka source/sink.

    `master=None` leaves the master to `spark-submit --master ...`, so the same code runs on a cluster.
    `jars_required=False` lets `spark-submit --packages ...` supply the connectors when jars_dir has none.
    """
    # The Python workers must be the same interpreter (and venv) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    try:
        jars = {"spark.jars": ",".join(connector_jars(jars_dir))}
    except RuntimeError:
        if jars_required:
            raise
        jars = {}
    conf = {
        **jars,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB_PROVIDER,
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        "spark.sql.streaming.stateStore.rocksdb.boundedMemoryUsage": "true",
        "spark.sql.streaming.stateStore.rocksdb.maxMemoryUsageMB": "256",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **STATUS_RETENTION,
        "spark.driver.memory": "2g",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.databricks.delta.snapshotPartitions": "2",
        # PySpark's own applyInPandasWithState serializer concatenates all-NA padding frames, and
        # pandas warns about that on every batch that returns few rows; only that warning is muted.
        "spark.executorEnv.PYTHONWARNINGS": PANDAS_PADDING_WARNING,
    }
    conf.update(extra or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
