"""The direct route: the shortcut answers what it claims, FastAPI answers the rest from the same body."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from scoring.serving.direct_route import direct_route


class Item(BaseModel):
    name: str
    count: int


def app_with(claim: bool, seen: list[str]) -> FastAPI:
    async def shortcut(request: Request) -> Response | None:
        seen.append("shortcut")
        if not claim:
            await request.body()  # read it first: FastAPI's handler must still get the body
            return None
        return Response(b'{"via": "shortcut"}', media_type="application/json")

    async def create(item: Item) -> dict[str, str | int]:
        seen.append("fastapi")
        return {"via": "fastapi", "name": item.name, "count": item.count}

    app = FastAPI()
    app.router.add_api_route("/items", create, methods=["POST"], route_class_override=direct_route(shortcut))
    return app


def test_a_claimed_request_never_reaches_fastapi() -> None:
    seen: list[str] = []
    with TestClient(app_with(claim=True, seen=seen)) as c:
        r = c.post("/items", json={"name": "a", "count": 1})
    assert r.json() == {"via": "shortcut"} and seen == ["shortcut"]


def test_a_declined_request_is_fastapis_with_the_body_already_read() -> None:
    seen: list[str] = []
    with TestClient(app_with(claim=False, seen=seen)) as c:
        ok = c.post("/items", json={"name": "a", "count": 1})
        bad = c.post("/items", json={"name": "a", "count": "many"})
    assert ok.json() == {"via": "fastapi", "name": "a", "count": 1}
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "count"]
    assert seen == ["shortcut", "fastapi", "shortcut"]


def test_the_openapi_schema_is_fastapis() -> None:
    with TestClient(app_with(claim=True, seen=[])) as c:
        operation = c.get("/openapi.json").json()["paths"]["/items"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }
