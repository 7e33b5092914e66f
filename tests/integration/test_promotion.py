"""`train --promote-if-better` on the job's Delta history: a better candidate replaces a worse serving
model; a candidate worse than the serving model is written aside and refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from scoring.serving.model import ModelArtifact, publish_artifact
from scoring.training.gbm import train_gbm
from scoring.training.promotion import Gate
from scoring.training.training_set import LabelCutoff, TrainingWindow, training_rows
from services.generator.history import labeled_history
from services.generator.population import PopulationConfig, build_population
from services.generator.scenarios import LabelDelay, labels_for
from services.training.promotion import COMPARISONS, promote_if_better
from streaming import job
from streaming.card_state import FeatureConfig
from streaming.history import start_history
from streaming.merchant_state import MerchantConfig
from streaming.schema import to_kafka
from streaming.settings import StreamSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 8
H = 3600


def test_promotion_accepts_a_better_model_and_refuses_a_worse_one(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    merchant = MerchantConfig(volume_horizons_s=(H,), fraud_horizons_s=(2 * 86400,), label_delay_s=12 * H)
    settings = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_labels=topic_factory("labels"),
        topic_decisions=topic_factory("decisions"),
        delta_root=str(tmp_path / "delta"),
        checkpoint_root=str(tmp_path / "checkpoints"),
        history_trigger_s=0.5,
        metrics_port=0,
    )
    rng = np.random.default_rng(5)
    pop = build_population(rng, b"k" * 32, PopulationConfig(cards=150))
    history = labeled_history(pop, START, DAYS, rng, per_scenario=5)
    labels = [lb for lb, _ in labels_for(history, rng, LabelDelay(median_days=1.0))]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for ls in history:
        producer.produce(settings.topic_swipes, key=ls.swipe.card_token.encode(), value=to_kafka(ls.swipe))
    for label in labels:
        producer.produce(settings.topic_labels, key=label.card_token.encode(), value=to_kafka(label))
    assert producer.flush(30) == 0
    job.ensure_tables(spark, settings)
    query = start_history(spark, settings)
    try:
        query.processAllAvailable()
        assert query.exception() is None
    finally:
        job.stop([query])

    end = START + timedelta(days=DAYS)
    window = TrainingWindow(START + timedelta(days=1), end)
    cutoff = LabelCutoff(as_of=end + timedelta(days=20), label_delay=timedelta(days=1))
    backtest = timedelta(days=2)
    models = tmp_path / "models"
    config = FeatureConfig()

    def promote(gate: Gate) -> tuple[bool, dict[str, Any], ModelArtifact]:
        report = promote_if_better(
            spark, settings, models, config, window, cutoff, gate=gate, backtest=backtest,
            merchant=merchant, kind="logistic", seed=3,
        )  # fmt: skip
        comparison = json.loads(report.comparison_path.read_text())
        assert report.comparison_path.parent == models / COMPARISONS
        assert comparison["promoted"] is report.verdict.promote
        return report.verdict.promote, comparison, report.candidate

    # The swipes of the backtest window as both models see them, with every label known.
    swipes = [ls.swipe for ls in history]
    test_rows = training_rows(swipes, labels, TrainingWindow(end - backtest, end), cutoff, config)
    assert sum(r.is_fraud for r in test_rows) > 0

    # 1. Serving: a model that gives every swipe the same score (the candidate's weights zeroed), so
    #    its AP is the fraud share: the candidate ranks better, and replaces it.
    first, _, candidate = promote(Gate(ap_margin=0.0, deny_rate_bound=1.0))
    blind = candidate.model_copy(update={"version": "blind", "coefficients": [0.0] * len(candidate.features)})
    publish_artifact(blind, models)
    promoted, comparison, candidate = promote(Gate(ap_margin=0.0, deny_rate_bound=1.0))
    assert first is True  # no serving model yet
    assert promoted is True, comparison
    assert comparison["champion"]["version"] == "blind"
    assert comparison["candidate"]["average_precision"] > comparison["champion"]["average_precision"]
    assert ModelArtifact.load(models / "current.json").version == candidate.version

    # 2. Serving: trees that memorized the backtest window (fitted on it, then validated on a copy
    #    of it a month later): the candidate, which never saw it, is worse and is refused.
    again = [replace(r, t=r.t + timedelta(days=30)) for r in test_rows]
    memorized = train_gbm([*test_rows, *again], "memorized", config=config, seed=1, validation_fraction=0.5)
    publish_artifact(memorized, models)
    promoted, comparison, candidate = promote(Gate(ap_margin=0.0, deny_rate_bound=1.0))
    assert promoted is False, comparison
    assert "below the serving model" in comparison["reason"]
    assert comparison["champion"]["average_precision"] > comparison["candidate"]["average_precision"]
    assert ModelArtifact.load(models / "current.json").version == "memorized"  # still serving
    assert ModelArtifact.load(models / f"{candidate.version}.json") == candidate  # kept, e.g. to shadow
    assert comparison["backtest"] == {
        "start": (end - backtest).isoformat(),
        "end": end.isoformat(),
        "swipes": len(test_rows),
        "frauds": sum(r.is_fraud for r in test_rows),
    }
