"""`fraudstream train --source delta`: the job's own Delta history, point in time, to a published model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from scoring.serving.model import ModelArtifact
from scoring.training.training_set import LabelCutoff, TrainingWindow
from services.generator.history import labeled_history
from services.generator.population import PopulationConfig, build_population
from services.generator.scenarios import LabelDelay, labels_for
from services.training.delta_history import read_history
from services.training.trainer import train_on_delta
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


def test_train_on_the_jobs_delta_history_uses_only_labels_known_at_training_time(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    merchant = MerchantConfig(
        volume_horizons_s=(H,), fraud_horizons_s=(DAYS * 86400 // 4,), label_delay_s=12 * H
    )
    settings = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_labels=topic_factory("labels"),
        topic_tiles=topic_factory("card-tiles", compacted=True),
        topic_merchant_features=topic_factory("merchant-features", compacted=True),
        topic_decisions=topic_factory("decisions"),
        delta_root=str(tmp_path / "delta"),
        checkpoint_root=str(tmp_path / "checkpoints"),
        merchant_volume_horizons_s=list(merchant.volume_horizons_s),
        merchant_fraud_horizons_s=list(merchant.fraud_horizons_s),
        label_delay_s=merchant.label_delay_s,
        trigger_s=0.5,
        history_trigger_s=0.5,
        metrics_port=0,
    )
    rng = np.random.default_rng(11)
    pop = build_population(rng, b"k" * 32, PopulationConfig(cards=150))
    history = labeled_history(pop, START, DAYS, rng, per_scenario=4)
    labels = [lb for lb, _ in labels_for(history, rng, LabelDelay(median_days=1.0))]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for ls in history:
        producer.produce(settings.topic_swipes, key=ls.swipe.card_token.encode(), value=to_kafka(ls.swipe))
    for label in labels:
        producer.produce(settings.topic_labels, key=label.card_token.encode(), value=to_kafka(label))
    assert producer.flush(30) == 0

    # The query that writes what training reads: Delta `swipes` and `labels`.
    job.ensure_tables(spark, settings)
    queries = [start_history(spark, settings)]
    try:
        for q in queries:
            q.processAllAvailable()
        for q in queries:
            assert q.exception() is None, f"{q.name} failed: {q.exception()}"
    finally:
        job.stop(queries)

    # The history read back is what was produced: every swipe, every label.
    end = START + timedelta(days=DAYS)
    read = read_history(spark, settings, START, end + timedelta(days=30))
    assert sorted(s.swipe_id for s in read.swipes) == sorted(ls.swipe.swipe_id for ls in history)
    assert sorted(lb.swipe_id for lb in read.labels) == sorted(lb.swipe_id for lb in labels)

    # Train as of day 7 with a 1-day label delay: examples from day 1 to day 6 only, fraud only if
    # its chargeback had arrived by day 7.
    window = TrainingWindow(START + timedelta(days=1), end)
    cutoff = LabelCutoff(as_of=START + timedelta(days=7), label_delay=timedelta(days=1))
    report = train_on_delta(
        spark, settings, tmp_path / "models", FeatureConfig(), window, cutoff, merchant=merchant, seed=2
    )
    settled = [ls for ls in history if window.start <= ls.swipe.event_time < cutoff.settled_before]
    settled_times = sorted(ls.swipe.event_time for ls in settled)
    known = {lb.swipe_id for lb in labels if lb.is_fraud and lb.reported_at <= cutoff.as_of}
    assert report.swipes == len(settled)
    assert report.fraud == sum(ls.swipe.swipe_id in known for ls in settled)
    # Some fraud of the window was not yet reported at as_of: it trained as legitimate, as it would have.
    assert sum(ls.is_fraud for ls in settled) > report.fraud > 0

    published = ModelArtifact.load(tmp_path / "models" / "current.json")
    assert published.version == report.artifact.version == f"{published.kind}-delta-20261007T000000-s2"
    # auto: both kinds fitted on the same rows, the better validation AP kept
    assert published.selection is not None and published.selection.ranked()[0].kind == published.kind
    assert {c.kind for c in published.selection.candidates} == {"logistic", "gbm"}
    # the stored swipes carry every field (positions too), so the model reads them all
    assert published.swipe_fields == ["merchant", "mcc", "country", "channel", "position"]
    assert published.training_window == (window.start, cutoff.settled_before)
    assert published.reads_merchant
    # the fit rows end the label delay (1 day) before the validation slice: those between are left out
    validation_start = settled_times[-published.metrics.n_validation]
    gap = sum(validation_start - timedelta(days=1) <= t < validation_start for t in settled_times)
    assert gap > 0
    assert published.metrics.n_train + gap + published.metrics.n_validation == len(settled)
