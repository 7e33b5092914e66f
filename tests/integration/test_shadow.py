"""A shadow model on the real stack: the scorer's challenger decisions reach Delta `decisions`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from foundation.tables import TABLE_DECISIONS
from scoring.serving.app import build_producer, create_app
from scoring.serving.model import publish_artifact
from scoring.serving.settings import ScorerSettings
from scoring.training.shadow_compare import compare
from services.training.shadow_report import read_paired
from streaming.audit import decision_rows
from streaming.history import start_history
from streaming.schema import Label, to_kafka
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually
from tests.unit.scoring.builders import CFG, T0, artifact

pytestmark = pytest.mark.integration


def test_a_shadow_models_decisions_land_in_delta_beside_the_champions(
    spark: Any, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    topics: dict[str, Any] = {
        "topic_swipes": topic_factory("swipes"),
        "topic_labels": topic_factory("labels"),
        "topic_decisions": topic_factory("decisions"),
    }
    # The champion approves a new card's first swipe (sigmoid(-4 + 1) < 0.5); the challenger,
    # with its intercept at +2, denies it.
    publish_artifact(artifact({"velocity_600_count": 1.0}, intercept=-4.0), tmp_path / "models")
    shadow_path = tmp_path / "challenger.json"
    challenger = artifact({"velocity_600_count": 1.0}, intercept=2.0).model_copy(update={"version": "chal-1"})
    shadow_path.write_text(challenger.to_json())
    scorer_settings = ScorerSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        state_dir=tmp_path,
        horizons_s=list(CFG.horizons_s),
        shadow_model_path=shadow_path,
        reload_check_s=0,
        **topics,
    )
    stream_settings = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        state_dir=tmp_path,
        history_trigger_s=0.5,
        **topics,
    )
    # A decisions table written before the shadow columns existed: the history query adds them.
    old = decision_rows(spark.createDataFrame([], "value binary, topic string, partition int, offset long"))
    old.drop("shadow_decision", "shadow_score", "shadow_model_version").write.format("delta").save(
        stream_settings.table(TABLE_DECISIONS)
    )

    producer = build_producer(scorer_settings)
    ids = [f"sw-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    with TestClient(create_app(scorer_settings, producer=producer, registry=CollectorRegistry())) as c:
        for i, swipe_id in enumerate(ids):
            r = c.post(
                "/v1/score",
                json={
                    "swipe_id": swipe_id,
                    "pan": "4111 1111 1111 1111" if i == 0 else None,
                    "card_token": None if i == 0 else "ct_" + f"{i:02d}" * 16,
                    "amount": 30.0,
                    "currency": "EUR",
                    "merchant_id": "m1",
                    "mcc": "5411",
                    "country": "FR",
                    "event_time": (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
            assert r.status_code == 200, r.text
            assert r.json()["decision"] == "approve" and "shadow" not in r.json()
    # A chargeback for the second swipe: the challenger denied it, the champion did not.
    label = Label(
        swipe_id=ids[1],
        card_token="ct_" + "01" * 16,
        merchant_id="m1",
        is_fraud=True,
        scenario="stolen_card",
        event_time=T0 + timedelta(seconds=1),
        reported_at=T0 + timedelta(days=3),
    )
    producer.produce(topics["topic_labels"], value=to_kafka(label), key=label.card_token.encode())
    assert producer.flush(30) == 0

    query = start_history(spark, stream_settings)
    try:

        def landed() -> None:
            query.processAllAvailable()
            rows = spark.read.format("delta").load(stream_settings.table(TABLE_DECISIONS)).collect()
            assert sorted(r.swipe_id for r in rows) == sorted(ids)
            assert spark.read.format("delta").load(stream_settings.table("labels")).count() == 1

        assert_eventually(landed, timeout=90)
    finally:
        query.stop()
    rows = spark.read.format("delta").load(stream_settings.table(TABLE_DECISIONS)).collect()
    assert {(r.decision, r.model_version, r.shadow_decision, r.shadow_model_version) for r in rows} == {
        ("approve", "test-1", "deny", "chal-1")
    }
    assert all(r.shadow_score > 0.9 > r.score for r in rows)
    assert all("4111" not in r.record for r in rows)

    # The report's read of the same tables: every swipe paired, the one fraud caught by the challenger.
    paired = compare(read_paired(spark, stream_settings, datetime.now(UTC) - timedelta(hours=1)))
    assert (paired.swipes, paired.agreement, paired.only_challenger_denies, paired.frauds) == (3, 0.0, 3, 1)
    assert (paired.champion.recall, paired.challenger.recall, paired.challenger.precision) == (
        0.0,
        1.0,
        1 / 3,
    )
    assert compare(read_paired(spark, stream_settings, datetime.now(UTC) + timedelta(hours=1))).swipes == 0
