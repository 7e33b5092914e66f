"""The bare baseline endpoint answers the constant body it was given, whatever the request."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bench.server import bare_app

BODY = b'{"swipe_id":"sw-1","decision":"approve"}'


def test_bare_endpoint_returns_the_constant_json_body() -> None:
    client = TestClient(bare_app(BODY))

    response = client.post("/v1/score", json={"anything": 1})

    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["content-type"] == "application/json"
    assert client.get("/readyz").json() == {"ready": True}
