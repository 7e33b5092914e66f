"""The review queue and the analyst's routes: a review decision opens a case, a verdict closes it into a
label, a chargeback becomes a label; tokens, 422s naming the field, 404, 409, 503; no PAN anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from foundation.card_tokens import tokenize_pan
from scoring.serving.app import create_app
from scoring.serving.model import publish_artifact
from scoring.serving.reviews import ReviewQueue, close_case, flags_review, open_case, verdict_label
from scoring.serving.settings import ScorerSettings
from streaming.schema import Label, ReviewCase, Swipe, from_kafka, to_kafka
from tests.unit.scoring.builders import CFG, T0, TOKEN, artifact

PAN = "4111 1111 1111 1111"
API_TOKEN = "analyst-token"
RULES = """
[[rule]]
id = "big-amount"
action = "review"
description = "A large amount: an analyst looks."
when = [{ input = "amount", op = ">", value = 1000 }]
"""
SWIPE: dict[str, Any] = {
    "swipe_id": "sw-1",
    "amount": 4200.0,
    "currency": "EUR",
    "merchant_id": "m1",
    "mcc": "5411",
    "country": "FR",
    "event_time": "2026-11-27T09:00:10Z",
}
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
CHARGEBACK = {"swipe_id": "s", "card_token": TOKEN, "merchant_id": "m", "event_time": "2026-11-27T09:00:00Z"}


class ConfirmingProducer:
    """Keeps what was produced; `flush` reports `undelivered` records left (0: Kafka confirmed all)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, bytes]] = []
        self.undelivered = 0

    def produce(self, topic: str, value: bytes, key: Any, on_delivery: Any) -> None:
        self.records.append((topic, key, value))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return self.undelivered

    def on(self, topic: str) -> list[bytes]:
        return [v for t, _, v in self.records if t == topic]


class Analyst:
    def __init__(self, tmp_path: Path, producer: Any) -> None:
        self.now = T0 + timedelta(seconds=11)
        self.producer = producer
        self.queue = ReviewQueue()
        rules = tmp_path / "rules.toml"
        rules.write_text(RULES, encoding="utf-8")
        publish_artifact(artifact({"velocity_600_count": 1.0}, threshold=0.5), tmp_path / "models")
        self.settings = ScorerSettings(
            _env_file=None,  # type: ignore[call-arg]
            state_dir=tmp_path,
            horizons_s=list(CFG.horizons_s),
            reload_check_s=0,
            rules_path=rules,
            api_token=SecretStr(API_TOKEN),
        )

    def client(self) -> TestClient:
        app = create_app(
            self.settings,
            producer=self.producer,
            reviews=self.queue,
            registry=CollectorRegistry(),
            clock=lambda: self.now,
        )
        return TestClient(app, headers=AUTH)


@pytest.fixture
def analyst(tmp_path: Path) -> Analyst:
    return Analyst(tmp_path, ConfirmingProducer())


@pytest.fixture
def client(analyst: Analyst) -> Iterator[TestClient]:
    with analyst.client() as c:
        yield c


def score(client: TestClient, **changes: Any) -> dict[str, Any]:
    r = client.post("/v1/score", json={**SWIPE, "pan": PAN, **changes})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_review_decision_opens_a_case_on_the_reviews_topic_keyed_by_swipe(
    analyst: Analyst, client: TestClient
) -> None:
    score(client)
    score(client, swipe_id="sw-2", amount=20.0)  # no review rule fires: no case
    (value,) = analyst.producer.on(analyst.settings.topic_reviews)
    case = from_kafka(ReviewCase, value)
    token = tokenize_pan(PAN, analyst.settings.token_key.get_secret_value().encode())
    assert (case.swipe.swipe_id, case.swipe.card_token, case.status) == ("sw-1", token, "open")
    assert [t for t, _, _ in analyst.producer.records].count(analyst.settings.topic_reviews) == 1
    assert [k for t, k, _ in analyst.producer.records if t == analyst.settings.topic_reviews] == [b"sw-1"]
    assert "rule:big-amount" in [r.code for r in case.reasons]
    assert case.features["amount_log"] > 0
    listed = client.get("/v1/reviews", params={"status": "open"}).json()["reviews"]
    assert [c["swipe"]["swipe_id"] for c in listed] == ["sw-1"]
    for text in (value.decode(), json.dumps(listed)):
        assert "4111" not in text


def test_a_verdict_closes_the_case_and_becomes_a_label_reported_now(
    analyst: Analyst, client: TestClient
) -> None:
    decided = score(client)
    analyst.now += timedelta(hours=3)
    r = client.post(
        "/v1/reviews/sw-1", json={"verdict": "fraud", "analyst": "a.martin", "note": "denied by holder"}
    )
    assert r.status_code == 200, r.text
    (label_value,) = analyst.producer.on(analyst.settings.topic_labels)
    label = from_kafka(Label, label_value)
    assert (label.swipe_id, label.card_token, label.is_fraud) == ("sw-1", decided["card_token"], True)
    assert label.reported_at == analyst.now and label.event_time == T0 + timedelta(seconds=10)
    closed = from_kafka(ReviewCase, analyst.producer.on(analyst.settings.topic_reviews)[-1])
    assert (closed.status, closed.verdict, closed.analyst) == ("closed", "fraud", "a.martin")
    assert client.get("/v1/reviews").json()["reviews"] == []
    again = client.post("/v1/reviews/sw-1", json={"verdict": "legit", "analyst": "b"})
    assert again.status_code == 409 and "a.martin" in again.text


def test_a_verdict_does_not_change_how_the_same_swipe_scores(analyst: Analyst, client: TestClient) -> None:
    first = score(client)
    client.post("/v1/reviews/sw-1", json={"verdict": "fraud", "analyst": "a"})
    again = score(client)  # a retry of the same swipe: labels never reach the scoring path
    assert (again["decision"], again["score"], again["reasons"]) == (
        first["decision"],
        first["score"],
        first["reasons"],
    )


def test_an_unknown_swipe_is_404(client: TestClient) -> None:
    r = client.post("/v1/reviews/sw-nope", json={"verdict": "fraud", "analyst": "a"})
    assert r.status_code == 404 and "sw-nope" in r.text


@pytest.mark.parametrize(
    ("path", "payload", "loc"),
    [
        ("/v1/reviews/sw-1", {"verdict": "maybe", "analyst": "a"}, ["body", "verdict"]),
        ("/v1/reviews/sw-1", {"verdict": "fraud"}, ["body", "analyst"]),
        ("/v1/reviews/sw-1", {"verdict": "fraud", "analyst": "a", "score": 1}, ["body", "score"]),
        (
            "/v1/labels",
            {"swipe_id": "s", "card_token": TOKEN, "event_time": "2026-11-27T09:00:00Z"},
            ["body", "merchant_id"],
        ),
        (
            "/v1/labels",
            {"swipe_id": "s", "card_token": "x", "merchant_id": "m", "event_time": "2026-11-27T09:00:00Z"},
            ["body", "card_token"],
        ),
        (
            "/v1/labels",
            {
                "swipe_id": "s",
                "pan": "4111 1111 1111 1112",
                "merchant_id": "m",
                "event_time": "2026-11-27T09:00:00Z",
            },
            ["body", "pan"],
        ),
        (
            "/v1/labels",
            {"swipe_id": "s", "card_token": TOKEN, "merchant_id": "m", "event_time": "yesterday"},
            ["body", "event_time"],
        ),
        ("/v1/labels", {"swipe_id": "s", "merchant_id": "m", "event_time": "2026-11-27T09:00:00Z"}, ["body"]),
        # The document's types, not pydantic's coercions: seconds as a time, a space, 1 as true.
        ("/v1/labels", {**CHARGEBACK, "event_time": "4"}, ["body", "event_time"]),
        ("/v1/labels", {**CHARGEBACK, "reported_at": "2026-12-01 09:00:00Z"}, ["body", "reported_at"]),
        ("/v1/labels", {**CHARGEBACK, "is_fraud": 1}, ["body", "is_fraud"]),
    ],
)
def test_an_invalid_body_is_422_naming_the_field(
    client: TestClient, path: str, payload: dict[str, Any], loc: list[str]
) -> None:
    score(client)
    r = client.post(path, json=payload)
    assert r.status_code == 422, r.text
    assert any(e["loc"] == loc for e in r.json()["detail"]), r.json()
    assert "4111" not in r.text


def test_only_open_is_a_status_kept(client: TestClient) -> None:
    r = client.get("/v1/reviews", params={"status": "closed"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "status"]


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/v1/reviews"), ("post", "/v1/reviews/sw-1"), ("post", "/v1/labels")]
)
def test_the_routes_need_the_api_token(analyst: Analyst, method: str, path: str) -> None:
    with analyst.client() as c:
        r = getattr(c, method)(
            path, headers={"Authorization": "Bearer wrong"}, **({"json": {}} if method == "post" else {})
        )
    assert r.status_code == 401


def test_a_chargeback_with_a_pan_becomes_a_tokenized_label(analyst: Analyst, client: TestClient) -> None:
    r = client.post(
        "/v1/labels",
        json={"swipe_id": "sw-9", "pan": PAN, "merchant_id": "m7", "event_time": "2026-11-20T10:00:00Z"},
    )
    assert r.status_code == 200, r.text
    (value,) = analyst.producer.on(analyst.settings.topic_labels)
    label = from_kafka(Label, value)
    token = tokenize_pan(PAN, analyst.settings.token_key.get_secret_value().encode())
    assert (label.card_token, label.is_fraud, label.scenario, label.reported_at) == (
        token,
        True,
        "chargeback",
        analyst.now,
    )
    assert "4111" not in value.decode() and "4111" not in r.text


def test_a_verdict_kafka_does_not_confirm_is_503_and_the_case_stays_open(
    analyst: Analyst, client: TestClient
) -> None:
    score(client)
    analyst.producer.undelivered = 2
    r = client.post("/v1/reviews/sw-1", json={"verdict": "legit", "analyst": "a"})
    assert r.status_code == 503 and "retry" in r.text
    assert [c["swipe"]["swipe_id"] for c in client.get("/v1/reviews").json()["reviews"]] == ["sw-1"]


def test_without_a_producer_a_verdict_is_503(tmp_path: Path) -> None:
    analyst = Analyst(tmp_path, None)
    with analyst.client() as c:
        score(c)
        r = c.post("/v1/reviews/sw-1", json={"verdict": "fraud", "analyst": "a"})
    assert r.status_code == 503 and "no Kafka producer" in r.text


def case(swipe_id: str, seconds: float) -> ReviewCase:
    swipe = Swipe(**{**SWIPE, "swipe_id": swipe_id}, card_token=TOKEN, decision="approve")
    return open_case(
        swipe,
        0.2,
        "v1",
        [("rule:big-amount", "big", "review")],
        {"amount_log": 8.3},
        T0 + timedelta(seconds=seconds),
    )


def test_the_queue_follows_the_topic_closed_beats_open_oldest_first() -> None:
    queue = ReviewQueue()
    a, b, c = case("a", 30), case("b", 10), case("c", 20)
    closed_b = close_case(b, "legit", "x", "", T0 + timedelta(hours=1))
    # as a replica reads them: the close may even come before an open replayed late
    for record in (a, closed_b, c, b):
        queue.take(record, to_kafka(record), 0.0)
    assert [x.swipe.swipe_id for x in queue.open_cases(10)] == ["c", "a"]
    assert [x.swipe.swipe_id for x in queue.open_cases(1)] == ["c"]
    held = queue.get("b")
    assert held is not None and held.status == "closed"


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        ([("rule:big-amount", "review")], True),
        ([("rule:stolen-card", "deny")], False),
        ([("model_score", 0.9), ("feature:review", "review")], False),
        ([], False),
    ],
)
def test_which_decisions_open_a_case(reasons: list[tuple[str, Any]], expected: bool) -> None:
    assert flags_review(reasons) is expected


@pytest.mark.parametrize(("verdict", "is_fraud"), [("fraud", True), ("legit", False)])
def test_a_verdict_label(verdict: str, is_fraud: bool) -> None:
    at = T0 + timedelta(days=2)
    label = verdict_label(close_case(case("a", 0), verdict, "x", "n", at))  # type: ignore[arg-type]
    assert (label.swipe_id, label.is_fraud, label.reported_at, label.event_time, label.scenario) == (
        "a",
        is_fraud,
        at,
        T0 + timedelta(seconds=10),
        "analyst_review",
    )
