"""Read the history back from the feature job's Delta tables (`swipes`, `labels`, `decisions`).

The only I/O of `fraudstream train --source delta` and `fraudstream rules test`: batch reads with
Spark, so the same code reads a local folder or object storage (`FRAUDSTREAM_DELTA_ROOT=s3a://...`).
What the rows mean (which labels were known, which swipes had settled, what a rule would have done)
is decided in the pure `scoring.training.training_set` and `services.backtest.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from foundation.tables import TABLE_DECISIONS, TABLE_LABELS, TABLE_SWIPES
from services.backtest.rules import RecordedDecision
from streaming.schema import Label, Swipe
from streaming.settings import StreamSettings

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
R = TypeVar("R", bound=BaseModel)


class HistoryMissing(RuntimeError):
    """A Delta table training needs is not there; the message says how to fill it."""


@dataclass(frozen=True)
class History:
    swipes: list[Swipe]
    labels: list[Label]


def read_history(
    spark: SparkSession,
    settings: StreamSettings,
    since: datetime,
    until: datetime,
    labels_until: datetime | None = None,
) -> History:
    """Swipes with event time in `[since, until)`; labels reported by `labels_until` (default `until`)."""
    swipes = _table(spark, settings, TABLE_SWIPES)
    labels = _table(spark, settings, TABLE_LABELS)
    from pyspark.sql import functions as F

    swipes = swipes.where((F.col("event_time") >= F.lit(since)) & (F.col("event_time") < F.lit(until)))
    labels = labels.where(F.col("reported_at") <= F.lit(labels_until or until))
    return History(_records(swipes, Swipe), _records(labels, Label))


def _table(spark: SparkSession, settings: StreamSettings, name: str) -> DataFrame:
    from delta.tables import DeltaTable

    path = settings.table(name)
    if not DeltaTable.isDeltaTable(spark, path):
        raise HistoryMissing(
            f"no Delta table `{name}` at {path}. Run the feature job (`fraudstream stream`, or "
            f"`fraudstream demo`) with swipes and labels flowing to fill it, or point "
            f"FRAUDSTREAM_DELTA_ROOT at the tables."
        )
    return spark.read.format("delta").load(path)


def _records(frame: DataFrame, model: type[R]) -> list[R]:
    """Rows as validated records; timestamps travel as epoch microseconds to skip timezone round trips."""
    from pyspark.sql import functions as F

    names = list(model.model_fields)
    times = [n for n in names if dict(frame.dtypes).get(n) == "timestamp"]
    columns = [F.unix_micros(n).alias(n) if n in times else F.col(n) for n in names]
    pdf: pd.DataFrame = frame.select(*columns).toPandas()
    rows = pdf.to_numpy(dtype=object).tolist()
    return [model.model_validate(_row(names, values, times)) for values in rows]


def _row(names: list[str], values: list[Any], times: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {n: (None if v != v else v) for n, v in zip(names, values, strict=True)}  # NaN
    for n in times:
        row[n] = _EPOCH + timedelta(microseconds=int(row[n]))
    return row


def read_decisions(
    spark: SparkSession, settings: StreamSettings, since: datetime, until: datetime
) -> list[RecordedDecision]:
    """The scorer's decisions on swipes with event time in `[since, until)`; none before any was written.

    Each with the model's score and threshold (the threshold from the record's JSON) and when it was
    decided: a retried swipe has several, `services.backtest.rules.newest_decisions` keeps the last.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = settings.table(TABLE_DECISIONS)
    if not DeltaTable.isDeltaTable(spark, path):
        return []  # no scorer has published yet: every swipe was authorized elsewhere
    frame = spark.read.format("delta").load(path)
    frame = frame.where((F.col("event_time") >= F.lit(since)) & (F.col("event_time") < F.lit(until)))
    rows = frame.select(
        "swipe_id",
        "decision",
        "score",
        F.get_json_object("record", "$.threshold").cast("double").alias("threshold"),
        F.unix_micros("decided_at").alias("decided_at"),
    ).collect()
    return [
        RecordedDecision(
            r.swipe_id, r.decision, r.score, r.threshold, _EPOCH + timedelta(microseconds=int(r.decided_at))
        )
        for r in rows
    ]
