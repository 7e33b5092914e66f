"""`fraudstream shadow report`: the champion and the challenger on Delta `decisions` (and `labels`).

The only I/O of the report: a batch read of the two tables with Spark. The comparison itself is
the pure `scoring.training.shadow_compare.compare`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from foundation.tables import TABLE_DECISIONS
from scoring.training.shadow_compare import PairedDecision, ShadowComparison
from services.training.delta_history import HistoryMissing
from streaming.history import TABLE_LABELS
from streaming.settings import StreamSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def read_paired(spark: SparkSession, settings: StreamSettings, since: datetime) -> list[PairedDecision]:
    """Decisions made since `since` that carry a challenger's, each with its label if one arrived."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    path = settings.table(TABLE_DECISIONS)
    if not DeltaTable.isDeltaTable(spark, path):
        raise HistoryMissing(
            f"no Delta table `{TABLE_DECISIONS}` at {path}: run the feature job (`fraudstream up`) "
            "while a scorer with FRAUDSTREAM_SHADOW_MODEL or FRAUDSTREAM_SHADOW_RULES decides swipes"
        )
    decisions = spark.read.format("delta").load(path)
    if "shadow_decision" not in decisions.columns:
        return []  # written before any challenger ran
    paired = decisions.where(
        (F.col("decided_at") >= F.lit(since)) & F.col("shadow_decision").isNotNull()
    ).select("swipe_id", "decided_at", "decision", "shadow_decision")
    labels_path = settings.table(TABLE_LABELS)
    if DeltaTable.isDeltaTable(spark, labels_path):
        labels = (
            spark.read.format("delta")
            .load(labels_path)
            .groupBy("swipe_id")
            .agg(F.max(F.col("is_fraud").cast("int")).cast("boolean").alias("is_fraud"))
        )
        paired = paired.join(labels, "swipe_id", "left")
    else:
        paired = paired.withColumn("is_fraud", F.lit(None).cast("boolean"))
    return [
        PairedDecision(
            r.swipe_id, r.decided_at.replace(tzinfo=UTC), r.decision, r.shadow_decision, r.is_fraud
        )
        for r in paired.collect()
    ]


def report_rows(c: ShadowComparison) -> list[tuple[str, str, str]]:
    """The report as (figure, champion, challenger) rows, the way the CLI prints them."""

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    agreement = share(c.agreement)
    return [
        ("swipes both decided", f"{c.swipes:,}", f"{c.swipes:,}"),
        ("agreement", agreement, agreement),
        ("denials", f"{c.champion.denials:,}", f"{c.challenger.denials:,} ({c.denial_difference:+,})"),
        ("denied by this side only", f"{c.only_champion_denies:,}", f"{c.only_challenger_denies:,}"),
        ("labeled frauds among them", f"{c.frauds:,}", f"{c.frauds:,}"),
        ("frauds denied", f"{c.champion.caught:,}", f"{c.challenger.caught:,}"),
        ("precision", share(c.champion.precision), share(c.challenger.precision)),
        ("recall", share(c.champion.recall), share(c.challenger.recall)),
    ]
