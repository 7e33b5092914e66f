"""The scorer's HTTP contract: the request body and the body limit (the answer: streaming.decision_record)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from foundation.card_tokens import CARD_TOKEN_PATTERN, normalize_pan
from streaming.schema import SwipeDetails

_EXAMPLE: dict[str, Any] = {
    "swipe_id": "sw-000001",
    "amount": 42.5,
    "currency": "EUR",
    "merchant_id": "m-00042",
    "mcc": "5411",
    "country": "FR",
    "lat": 48.85,
    "lon": 2.35,
    "channel": "pos",
    "event_time": "2026-11-27T09:00:00Z",
}


# RFC 3339's date-time, the document's `format: date-time`: a date, a time and the offset, nothing else.
RFC3339_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def rfc3339_date_time(value: Any) -> Any:
    """The HTTP bodies' one time check (a `mode="before"` validator): a string in RFC 3339 form.

    The document says an RFC 3339 date-time: "4" or 4 (seconds since 1970 to pydantic) is refused,
    a 422 naming the field. A datetime (a body built in Python) passes; the Kafka parser stays lax.
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339_DATE_TIME.fullmatch(value):
        raise ValueError(
            "expected an RFC 3339 date-time string with its timezone offset, e.g. 2026-11-27T09:00:00Z"
        )
    return value


# The format of `pan` in the OpenAPI document: what JSON Schema cannot say (the Luhn check) it names.
PAN_FORMAT = "card-number"
_PAN_SCHEMA = {
    "anyOf": [{"type": "string", "format": PAN_FORMAT, "writeOnly": True}, {"type": "null"}],
    "description": f"Card number (format `{PAN_FORMAT}`: 13-19 digits passing the Luhn check, spaces or "
    "dashes between them allowed); tokenized with the HMAC key on arrival, never stored or echoed.",
}
# Exactly one of the two identifies the card: one branch each, the other absent or null.
_ONE_CARD: list[JsonValue] = [
    {"required": ["pan"], "properties": {"pan": {"type": "string"}, "card_token": {"type": "null"}}},
    {"required": ["card_token"], "properties": {"card_token": {"type": "string"}, "pan": {"type": "null"}}},
]


class ScoreRequest(SwipeDetails):
    """A swipe to decide, identified by exactly one of `pan` (tokenized on arrival) or `card_token`."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": _ONE_CARD,
            "examples": [
                {**_EXAMPLE, "pan": "4111 1111 1111 1111"},
                {**_EXAMPLE, "card_token": "ct_" + "0" * 32},
            ],
        }
    )

    pan: Annotated[SecretStr | None, WithJsonSchema(_PAN_SCHEMA)] = None
    card_token: Annotated[str | None, Field(pattern=CARD_TOKEN_PATTERN)] = None

    @field_validator("pan")
    @classmethod
    def _pan_is_a_card_number(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        # normalize_pan's message never contains the number.
        return SecretStr(normalize_pan(value.get_secret_value()))

    @field_validator("amount", "lat", "lon", mode="before")
    @classmethod
    def _a_json_number(cls, value: Any) -> Any:
        # The document says number: "12.5" or true is refused here, not coerced (the Kafka parser is lax).
        if isinstance(value, str | bool):
            raise ValueError("expected a JSON number, e.g. 42.5")
        return value

    @field_validator("event_time", mode="before")
    @classmethod
    def _a_date_time_string(cls, value: Any) -> Any:
        return rfc3339_date_time(value)

    @model_validator(mode="after")
    def _exactly_one_card(self) -> ScoreRequest:
        if (self.pan is None) == (self.card_token is None):
            raise ValueError("give exactly one of `pan` or `card_token`")
        return self

    def details(self) -> dict[str, Any]:
        """The swipe fields, without the card identity."""
        return self.model_dump(exclude={"pan", "card_token"})


class BodySizeLimit:
    """Answer 413 to request bodies over `max_bytes`, declared or streamed, before the app parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed
