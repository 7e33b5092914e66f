"""The HTTP contract: validation, auth, body limit, no PAN anywhere, readiness, degraded paths."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from foundation.card_tokens import tokenize_pan
from scoring.serving.app import build_producer, create_app
from scoring.serving.model import publish_artifact
from scoring.serving.settings import DEFAULT_RULES_PATH, ScorerSettings
from streaming.schema import MerchantFeatures, MerchantFraud
from tests.unit.scoring.builders import T0, TOKEN, artifact, card_features
from tests.unit.scoring.serving.harness import PAN, PAN_DIGITS, Harness, body


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


@pytest.fixture
def client(h: Harness) -> Iterator[TestClient]:
    with h.client() as c:
        yield c


@pytest.mark.parametrize(
    ("payload", "loc", "msg"),
    [
        (body(amount=-1), ["body", "amount"], "greater than 0"),
        (body(currency="euro"), ["body", "currency"], "pattern"),
        ({k: v for k, v in body().items() if k != "merchant_id"}, ["body", "merchant_id"], "required"),
        (body(event_time="2026-11-27T09:00:00"), ["body", "event_time"], "timezone"),
        (body(card_token="1234"), ["body", "card_token"], "pattern"),
        (body(pan=PAN), ["body"], "exactly one"),
        (body(card_token=None), ["body"], "exactly one"),
        (body(card_token=None, pan="4111 1111 1111 1112"), ["body", "pan"], "not a valid card number"),
        (body(surprise=1), ["body", "surprise"], "Extra inputs"),
        # The document's types, not pydantic's coercions: a number as text, seconds as a time.
        (body(amount="19.99"), ["body", "amount"], "expected a JSON number"),
        (body(lat=True), ["body", "lat"], "expected a JSON number"),
        (body(event_time=0), ["body", "event_time"], "expected an RFC 3339 date-time string"),
    ],
)
def test_invalid_body_is_422_naming_the_field(
    client: TestClient, payload: dict[str, Any], loc: list[str], msg: str
) -> None:
    r = client.post("/v1/score", json=payload)
    assert r.status_code == 422
    errors = r.json()["detail"]
    assert any(e["loc"] == loc and msg in e["msg"] for e in errors), errors
    assert "4111" not in r.text  # the rejected input is never echoed


@pytest.mark.parametrize("event_time", ["4", 4, "2026-11-27", "2026-11-27 09:00:00Z"])
def test_a_swipe_time_not_in_rfc_3339_form_is_422_naming_event_time(
    client: TestClient, event_time: str | int
) -> None:
    r = client.post("/v1/score", json=body(event_time=event_time))
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "event_time"]]


@pytest.mark.parametrize("event_time", ["2026-11-27T09:00:00Z", "2026-11-27T10:00:00.5+01:00"])
def test_a_swipe_time_in_rfc_3339_form_is_decided(client: TestClient, event_time: str) -> None:
    r = client.post("/v1/score", json=body(event_time=event_time))
    assert r.status_code == 200, r.text
    assert r.json()["decision"] in ("approve", "deny")


def test_a_pan_is_tokenized_and_never_returned_published_or_logged(
    h: Harness, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        r = client.post("/v1/score", json=body(card_token=None, pan=PAN))
        denied = client.post("/v1/score", json=body(card_token=None, pan=PAN, swipe_id="sw-2", amount=0.5))
    assert r.status_code == 200 and denied.status_code == 200
    expected = tokenize_pan(PAN, h.settings.token_key.get_secret_value().encode())
    assert r.json()["card_token"] == expected
    for text in (r.text, denied.text, caplog.text, *(v.decode() for _, _, v in h.producer.records)):
        assert PAN_DIGITS not in text and PAN not in text


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong", 401),
        ("Basic c2VjcmV0", 401),
        ("Bearer s3cret-token", 200),
        ("Bearer s3cret-token-and-more", 401),
        ("bearer  s3cret-token ", 200),  # not the shortcut's exact spelling: FastAPI's parse accepts it
    ],
)
def test_bearer_token_is_required_when_configured(tmp_path: Path, header: str | None, status: int) -> None:
    h = Harness(tmp_path, api_token="s3cret-token")
    with h.client() as c:
        headers = {"Authorization": header} if header else {}
        r = c.post("/v1/score", json=body(), headers=headers)
        assert r.status_code == status
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer"
        assert c.get("/healthz").status_code == 200  # probes need no token


def test_too_large_body_is_413_declared_or_streamed(tmp_path: Path) -> None:
    h = Harness(tmp_path, max_body_bytes=1024)
    big = json.dumps(body(merchant_id="m" * 2000)).encode()
    with h.client() as c:
        assert (
            c.post("/v1/score", content=big, headers={"content-type": "application/json"}).status_code == 413
        )

        def chunks() -> Iterator[bytes]:
            yield big[:600]
            yield big[600:]

        streamed = c.post("/v1/score", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert c.post("/v1/score", json=body()).status_code == 200


def test_a_body_that_is_not_utf8_is_422_naming_the_body(client: TestClient) -> None:
    r = client.post(
        "/v1/score", content=b'{"swipe_id": "\xff"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body"]


def test_readyz_is_503_until_features_caught_up_and_a_model_is_loaded(tmp_path: Path) -> None:
    h = Harness(tmp_path, model=False)
    h.follower.ready, h.follower.lag = False, 12
    with h.client() as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["features"] == "catching up, lag 12"
        h.follower.ready = True
        assert c.get("/readyz").status_code == 503  # still no model
        publish_artifact(artifact(), tmp_path / "models")
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["model"] == "test-1"


def reasons(r: Any) -> list[str]:
    return [x["code"] for x in r.json()["reasons"]]


def test_score_uses_the_card_features_and_reports_their_age(h: Harness, client: TestClient) -> None:
    h.table.upsert(card_features(as_of_s=0, computed_at_s=1, windows={600: (2, 40.0, 0), 3600: (2, 40.0, 0)}))
    r = client.post("/v1/score?explain=true", json=body())
    out = r.json()
    assert r.status_code == 200
    assert out["features_as_of"] == "2026-11-27T09:00:00Z"
    assert out["feature_age_ms"] == 10_000  # clock T0+11 s, computed_at T0+1 s
    assert out["inputs"]["velocity_600_count"] == 3  # 2 streamed + this one
    assert out["model_version"] == "test-1" and out["degraded"] is False
    assert h.registry.get_sample_value("fraudstream_score_latency_seconds_count") == 1
    assert h.registry.get_sample_value("fraudstream_decisions_total", {"decision": out["decision"]}) == 1
    metrics = client.get("/metrics").text
    assert "fraudstream_score_latency_seconds_count 1.0" in metrics
    assert 'fraudstream_model_info{role="champion",version="test-1"} 1.0' in metrics


def test_a_burst_before_the_stream_catches_up_is_denied_by_the_model(h: Harness, client: TestClient) -> None:
    # model: score = sigmoid(velocity_600_count - 4); the stream never advances during the burst
    h.table.upsert(card_features(as_of_s=0, windows={600: (1, 20.0, 0), 3600: (1, 20.0, 0)}))
    decisions = []
    for i in range(5):
        h.now = T0 + timedelta(seconds=11 + i)
        event_time = (T0 + timedelta(seconds=10 + i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        decisions.append(client.post("/v1/score", json=body(swipe_id=f"b{i}", event_time=event_time)).json())
    assert [d["decision"] for d in decisions] == ["approve", "approve", "deny", "deny", "deny"]
    assert "feature:velocity_600_count" in [x["code"] for x in decisions[-1]["reasons"]]


def test_new_card_and_stale_features_are_degraded_and_say_so(h: Harness, client: TestClient) -> None:
    r = client.post("/v1/score", json=body(card_token="ct_" + "9" * 32))
    assert r.json()["degraded"] is True and "features_missing" in reasons(r)

    h.table.upsert(card_features(as_of_s=0))
    assert "features_stale" not in reasons(client.post("/v1/score", json=body(swipe_id="s1")))
    h.now += timedelta(seconds=h.settings.stale_after_s + 1)  # s1 still not folded by the stream
    r = client.post("/v1/score", json=body(swipe_id="s2", event_time="2026-11-27T09:06:00Z"))
    assert r.json()["degraded"] is True and "features_stale" in reasons(r)
    assert r.json()["features_as_of"] == "2026-11-27T09:00:00Z"


@pytest.mark.parametrize(
    ("fail_open", "decision", "code"), [(True, "approve", "fail_open"), (False, "deny", "fail_closed")]
)
def test_without_a_model_the_fail_policy_decides(
    tmp_path: Path, fail_open: bool, decision: str, code: str
) -> None:
    h = Harness(tmp_path, model=False, fail_open=fail_open)
    with h.client() as c:
        r = c.post("/v1/score", json=body())
    assert r.status_code == 200 and r.json()["decision"] == decision
    assert r.json()["score"] is None and {code, "model_unavailable"} <= set(reasons(r))


@pytest.mark.parametrize("failure", [BufferError("queue full"), RuntimeError("broker down")])
def test_kafka_failures_never_fail_the_request(h: Harness, failure: Exception) -> None:
    h.producer.fail = failure
    with h.client() as c:
        assert c.post("/v1/score", json=body()).status_code == 200
    assert h.registry.get_sample_value("fraudstream_publish_failures_total", {"topic": "swipes"}) == 1
    assert h.registry.get_sample_value("fraudstream_publish_failures_total", {"topic": "decisions"}) == 1


def test_decided_swipe_and_decision_record_are_published_keyed_by_token(
    h: Harness, client: TestClient
) -> None:
    client.post("/v1/score", json=body())
    topics = {t: (k, json.loads(v)) for t, k, v in h.producer.records}
    assert set(topics) == {"swipes", "decisions"}
    key, swipe = topics["swipes"]
    assert key == TOKEN.encode() and swipe["decision"] in ("approve", "deny") and swipe["card_token"] == TOKEN
    assert topics["decisions"][1]["inputs"]["velocity_600_count"] == 1


def test_a_retried_request_is_decided_again_but_its_swipe_is_published_once(
    h: Harness, client: TestClient
) -> None:
    first = client.post("/v1/score", json=body())
    again = client.post("/v1/score", json=body())
    assert first.status_code == again.status_code == 200
    topics = [t for t, _, _ in h.producer.records]
    assert topics.count("swipes") == 1  # the tiles count every swipe they get
    assert topics.count("decisions") == 2


def test_rules_file_changes_apply_without_restart(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    text = DEFAULT_RULES_PATH.read_text()
    rules.write_text(text)
    h = Harness(tmp_path, rules_path=rules)
    with h.client() as c:
        assert "rule:stolen-card" not in reasons(c.post("/v1/score", json=body()))
        rules.write_text(text.replace("stolen_cards = []", f'stolen_cards = ["{TOKEN}"]'))
        r = c.post("/v1/score", json=body(swipe_id="sw-2"))
    assert r.json()["decision"] == "deny" and "rule:stolen-card" in reasons(r)


def test_openapi_documents_the_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["ScoreRequest"]["examples"][0]["pan"]
    assert "reasons" in schema["ScoreResponse"]["properties"]


def test_shutdown_hooks_run_when_the_app_stops(h: Harness) -> None:
    calls: list[str] = []
    app = create_app(h.settings, registry=CollectorRegistry(), on_shutdown=(lambda: calls.append("stop"),))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        assert calls == []
    assert calls == ["stop"]


def test_a_model_that_reads_merchants_scores_the_merchants_known_fraud(tmp_path: Path) -> None:
    h = Harness(tmp_path, model=False)
    week = 7 * 86400
    publish_artifact(
        artifact({f"merchant_fraud_{week}_rate": 20.0}, merchant=h.settings.merchant_config),
        tmp_path / "models",
    )
    with h.client() as c:
        unknown = c.post("/v1/score?explain=true", json=body()).json()
        assert unknown["inputs"]["merchant_unknown"] == 1 and unknown["decision"] == "approve"
        h.merchants.upsert(
            MerchantFeatures(
                merchant_id="m1",
                as_of=T0,
                events=40,
                computed_at=T0,
                bucket_s=3600,
                label_delay_s=week,
                volume=[],
                fraud=[MerchantFraud(horizon_s=week, swipes=40, fraud_known=20, fraud_rate=0.5)],
            )
        )
        risky = c.post("/v1/score?explain=true", json=body(swipe_id="sw-2")).json()
        assert risky["inputs"][f"merchant_fraud_{week}_rate"] == 0.5 and risky["decision"] == "deny"
        elsewhere = c.post("/v1/score?explain=true", json=body(swipe_id="sw-3", merchant_id="m2")).json()
        assert elsewhere["inputs"]["merchant_unknown"] == 1 and elsewhere["decision"] == "approve"


def test_a_model_without_merchant_inputs_never_looks_merchants_up(h: Harness, client: TestClient) -> None:
    r = client.post("/v1/score?explain=true", json=body()).json()
    assert not any(name.startswith("merchant_") for name in r["inputs"])


@pytest.mark.parametrize(
    "payload",
    [
        body(),
        body(card_token=None, pan=PAN),
        body(lat=None, lon=None, channel="ecom", amount=19.99),
        body(event_time="2026-11-27T10:00:10+01:00"),
    ],
    ids=["token", "pan", "ecom-no-location", "offset-time"],
)
def test_the_direct_path_answers_and_publishes_as_fastapis_does(
    tmp_path: Path, payload: dict[str, Any]
) -> None:
    # `application/json` takes the direct path; a charset parameter makes the scorer decline it, so
    # the same swipe on a twin scorer goes through FastAPI's dependencies and validation.
    answers, published = [], []
    for i, content_type in enumerate(["application/json", "application/json; charset=utf-8"]):
        h = Harness(tmp_path / str(i))
        h.table.upsert(card_features(as_of_s=0, windows={600: (2, 40.0, 0), 3600: (2, 40.0, 0)}))
        with h.client() as c:
            r = c.post("/v1/score", content=json.dumps(payload), headers={"content-type": content_type})
        assert r.status_code == 200, r.text
        answers.append(r.content)
        published.append(h.producer.records)
    assert answers[0] == answers[1]
    assert published[0] == published[1] and len(published[0]) == 2


def test_the_published_records_are_the_swipe_and_the_response_with_inputs_and_times(
    h: Harness, client: TestClient
) -> None:
    h.table.upsert(card_features(as_of_s=0, computed_at_s=1, windows={600: (2, 40.0, 0), 3600: (2, 40.0, 0)}))
    answer = client.post("/v1/score", json=body()).json()
    published = {t: json.loads(v) for t, _, v in h.producer.records}
    swipe = {k: v for k, v in body().items() if k != "card_token"}
    assert published["swipes"] == {
        **swipe,
        "event_time": "2026-11-27T09:00:10.000000Z",
        "card_token": TOKEN,
        "decision": answer["decision"],
    }
    record = published["decisions"]
    assert record.pop("inputs")["velocity_600_count"] == 3
    assert answer.pop("inputs") is None
    assert record == {
        **answer,
        "event_time": "2026-11-27T09:00:10Z",
        "decided_at": "2026-11-27T09:00:11Z",
        "shadow": None,
    }


def test_the_producer_batches_for_the_linger_the_settings_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import confluent_kafka

    built: list[dict[str, Any]] = []
    monkeypatch.setattr(confluent_kafka, "Producer", lambda config: built.append(config))
    monkeypatch.setenv("FRAUDSTREAM_PUBLISH_LINGER_MS", "20")
    build_producer(ScorerSettings(_env_file=None, state_dir=tmp_path))  # type: ignore[call-arg]
    build_producer(ScorerSettings(_env_file=None, state_dir=tmp_path, publish_linger_ms=0))  # type: ignore[call-arg]
    assert [c["linger.ms"] for c in built] == [20, 0]
    assert all(c["enable.idempotence"] and c["message.timeout.ms"] == 600_000 for c in built)
