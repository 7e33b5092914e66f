"""The job's SparkSession keeps only a few finished executions and jobs in its driver's status store."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from streaming.spark import STATUS_RETENTION
from tests.eventually import assert_eventually

pytestmark = pytest.mark.integration

QUERIES = 80  # well past what the session retains, far under Spark's defaults (1,000 of each)


def test_a_long_run_of_queries_leaves_only_the_last_few_in_the_status_store(spark: SparkSession) -> None:
    """What a streaming driver does every trigger: the SQL executions and jobs it records stay
    bounded (a driver's heap otherwise grows for its first hour: streaming/spark.py)."""
    store = spark._jsparkSession.sharedState().statusStore()
    newest_before = _newest_execution(store)
    for i in range(QUERIES):
        assert spark.range(i + 1).count() == i + 1
    executions = int(STATUS_RETENTION["spark.sql.ui.retainedExecutions"])
    jobs = int(STATUS_RETENTION["spark.ui.retainedJobs"])

    def trimmed() -> tuple[int, int]:
        # Spark trims its store in a background thread once a kind passes its limit
        kept_executions = store.executionsCount()
        kept_jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(None))
        assert kept_executions <= executions + 2, f"{kept_executions} SQL executions kept"
        assert kept_jobs <= jobs + 2, f"{kept_jobs} jobs kept"
        return kept_executions, kept_jobs

    kept_executions, kept_jobs = assert_eventually(trimmed, timeout=30)
    # the store still records (its listener is on): the newest executions are these queries'
    assert _newest_execution(store) >= newest_before + QUERIES
    assert kept_executions > 0 and kept_jobs > 0


def _newest_execution(store: object) -> int:
    executions = store.executionsList()  # type: ignore[attr-defined]
    return max((executions.apply(i).executionId() for i in range(executions.size())), default=-1)
