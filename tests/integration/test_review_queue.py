"""The review queue on a real broker and Spark: a review decision on one scorer replica shows on the other,
a verdict posted through the API becomes a label in Delta `labels`, the case's two states in `reviews`."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from pyspark.sql import SparkSession

from foundation.card_tokens import tokenize_pan
from foundation.tables import TABLE_REVIEWS
from scoring.serving.app import build_producer, create_app
from scoring.serving.model import publish_artifact
from scoring.serving.online import FeatureFollower
from scoring.serving.reviews import ReviewQueue
from scoring.serving.settings import ScorerSettings
from streaming import job
from streaming.history import TABLE_LABELS, start_history
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually
from tests.unit.scoring.builders import CFG, artifact

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PAN = "4111111111111111"
API_TOKEN = "analyst-token"
VERDICT_AT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
RULES = """
[[rule]]
id = "big-amount"
action = "review"
description = "A large amount: an analyst looks."
when = [{ input = "amount", op = ">", value = 1000 }]
"""


@pytest.fixture
def topics(topic_factory: Callable[..., str]) -> dict[str, Any]:
    return {
        "topic_swipes": topic_factory("swipes"),
        "topic_labels": topic_factory("labels"),
        "topic_decisions": topic_factory("decisions"),
        "topic_reviews": topic_factory("reviews", compacted=True),
    }


def replica(settings: ScorerSettings, stack: ExitStack) -> tuple[TestClient, ReviewQueue]:
    """A scorer replica as `serve` wires it: its own producer and its own queue following `reviews`."""
    queue = ReviewQueue()
    follower = FeatureFollower(settings.bootstrap, settings.topic_reviews, queue)
    producer = build_producer(settings)
    app = create_app(
        settings,
        producer=producer,
        reviews=queue,
        review_follower=follower,
        registry=CollectorRegistry(),
        clock=lambda: VERDICT_AT,
        on_shutdown=(follower.stop, lambda: producer.flush(10)),
    )
    follower.start()
    client = stack.enter_context(TestClient(app, headers={"Authorization": f"Bearer {API_TOKEN}"}))
    assert follower.wait_ready(60)
    return client, queue


def open_ids(client: TestClient) -> list[str]:
    r = client.get("/v1/reviews", params={"status": "open"})
    assert r.status_code == 200, r.text
    return [c["swipe"]["swipe_id"] for c in r.json()["reviews"]]


def test_a_verdict_posted_through_the_api_becomes_a_label_in_delta(
    spark: SparkSession, kafka_bootstrap: str, topics: dict[str, Any], tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    publish_artifact(artifact({"velocity_600_count": 1.0}, threshold=0.5), tmp_path / "models")
    settings = ScorerSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        state_dir=tmp_path,
        horizons_s=list(CFG.horizons_s),
        reload_check_s=0,
        rules_path=rules,
        api_token=SecretStr(API_TOKEN),
        **topics,
    )
    token = tokenize_pan(PAN, settings.token_key.get_secret_value().encode())
    swipe: dict[str, Any] = {
        "swipe_id": "sw-review-1",
        "amount": 4200.0,
        "currency": "EUR",
        "merchant_id": "m-7",
        "mcc": "5411",
        "country": "FR",
        "event_time": "2026-11-30T09:00:00Z",
        "pan": PAN,
    }
    with ExitStack() as stack:
        a, _ = replica(settings, stack)
        b, queue_b = replica(settings, stack)
        r = a.post("/v1/score", json=swipe)
        assert r.status_code == 200, r.text
        assert any(x["code"] == "rule:big-amount" for x in r.json()["reasons"])
        assert open_ids(a) == ["sw-review-1"]
        # The other replica reads the case off `reviews`: both list the same queue.
        assert_eventually(lambda: _equal(open_ids(b), ["sw-review-1"]), timeout=30)

        verdict = {"verdict": "fraud", "analyst": "a.martin", "note": "cardholder denies it"}
        r = b.post("/v1/reviews/sw-review-1", json=verdict)
        assert r.status_code == 200, r.text
        assert r.json()["label"]["card_token"] == token
        assert_eventually(lambda: _equal(open_ids(a), []), timeout=30)
        held = queue_b.get("sw-review-1")
        assert held is not None and held.status == "closed"
        chargeback = {
            "swipe_id": "sw-other",
            "pan": PAN,
            "merchant_id": "m-9",
            "event_time": "2026-11-20T10:00:00Z",
            "reported_at": "2026-11-29T08:00:00Z",
        }
        r = a.post("/v1/labels", json=chargeback)
        assert r.status_code == 200, r.text

    stream = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        delta_root=str(tmp_path / "delta"),
        checkpoint_root=str(tmp_path / "checkpoints"),
        history_trigger_s=0.5,
        metrics_port=0,
        **topics,
    )
    job.ensure_tables(spark, stream)
    query = start_history(spark, stream)
    try:
        query.processAllAvailable()
        assert query.exception() is None, f"history failed: {query.exception()}"
    finally:
        job.stop([query])

    labels = {
        row.swipe_id: row for row in spark.read.format("delta").load(stream.table(TABLE_LABELS)).collect()
    }
    assert set(labels) == {"sw-review-1", "sw-other"}
    review = labels["sw-review-1"]
    assert (review.card_token, review.merchant_id, review.is_fraud, review.scenario) == (
        token,
        "m-7",
        True,
        "analyst_review",
    )
    # The session time zone is UTC: Delta holds naive UTC timestamps.
    assert review.reported_at == VERDICT_AT.replace(tzinfo=None)
    assert review.event_time == datetime(2026, 11, 30, 9, 0)
    other = labels["sw-other"]
    assert (other.card_token, other.scenario, other.reported_at) == (
        token,
        "chargeback",
        datetime(2026, 11, 29, 8),
    )

    cases = spark.read.format("delta").load(stream.table(TABLE_REVIEWS)).orderBy("offset").collect()
    assert [(c.swipe_id, c.status, c.verdict, c.analyst) for c in cases] == [
        ("sw-review-1", "open", None, None),
        ("sw-review-1", "closed", "fraud", "a.martin"),
    ]
    assert cases[0].card_token == token and cases[0].reasons[0] == "rule:big-amount"
    for c in cases:
        assert PAN not in c.record


def _equal(actual: object, expected: object) -> None:
    assert actual == expected, actual
