"""The analyst's routes: the open review queue, a verdict on a case, a chargeback as a label.

    GET  /v1/reviews?status=open       the open cases, oldest first
    POST /v1/reviews/{swipe_id}        {verdict: fraud|legit, analyst, note}: closes the case and
                                       publishes it, closed, on `reviews` and its Label on `labels`
    POST /v1/labels                    a chargeback: a Label on `labels` (card by PAN or token)

A verdict or a label is answered once Kafka confirmed it (the producer is flushed, in FastAPI's
thread pool, off the event loop): a 503 says it was not, and a retry is safe, since a second label
for a swipe counts once in the merchant fold and in training. Nothing here is read by scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from fastapi import APIRouter, HTTPException, Path, Query, params, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, WithJsonSchema, field_validator, model_validator

from foundation.card_tokens import normalize_pan, tokenize_pan
from scoring.serving.api import _ONE_CARD, _PAN_SCHEMA, rfc3339_date_time
from scoring.serving.reviews import ReviewQueue, close_case, verdict_label
from streaming.schema import CARD_TOKEN_PATTERN, EventTime, Label, ReviewCase, Verdict, to_kafka

CONFIRM_TIMEOUT_S = 10.0
SCENARIO_CHARGEBACK = "chargeback"


@runtime_checkable
class ReviewProducer(Protocol):
    """The part of confluent_kafka.Producer the analyst's routes use."""

    def produce(
        self, topic: str, value: bytes, key: Any, on_delivery: Callable[[Any, Any], None]
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...


class VerdictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"verdict": "fraud", "analyst": "a.martin", "note": "cardholder denies"}]
        },
    )

    verdict: Verdict
    analyst: Annotated[str, Field(min_length=1, max_length=64, pattern=r"\S")]
    # At most 1,000 characters: even all escaped (12 bytes each) the body stays under the 16 KB limit.
    note: Annotated[str, Field(max_length=1000)] = ""


class LabelRequest(BaseModel):
    """A chargeback (or any known truth) for one swipe, identified by exactly one of `pan` or `card_token`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": _ONE_CARD,
            "examples": [
                {
                    "swipe_id": "sw-000001",
                    "card_token": "ct_" + "0" * 32,
                    "merchant_id": "m-00042",
                    "event_time": "2026-11-27T09:00:00Z",
                    "is_fraud": True,
                    "reported_at": "2026-12-02T10:00:00Z",
                }
            ],
        },
    )

    swipe_id: Annotated[str, Field(min_length=1, max_length=64)]
    pan: Annotated[SecretStr | None, WithJsonSchema(_PAN_SCHEMA)] = None
    card_token: Annotated[str | None, Field(pattern=CARD_TOKEN_PATTERN)] = None
    merchant_id: Annotated[str, Field(min_length=1, max_length=64)]
    event_time: EventTime = Field(description="The swipe's event time.")
    is_fraud: Annotated[bool, Field(strict=True)] = True  # the document says boolean: 0 is refused
    reported_at: EventTime | None = Field(
        default=None, description="When the truth became known; default now."
    )
    scenario: Annotated[str, Field(min_length=1, max_length=64)] = SCENARIO_CHARGEBACK

    @field_validator("pan")
    @classmethod
    def _pan_is_a_card_number(cls, value: SecretStr | None) -> SecretStr | None:
        # normalize_pan's message never contains the number.
        return None if value is None else SecretStr(normalize_pan(value.get_secret_value()))

    @field_validator("event_time", "reported_at", mode="before")
    @classmethod
    def _a_date_time_string(cls, value: Any) -> Any:
        return value if value is None else rfc3339_date_time(value)

    @model_validator(mode="after")
    def _exactly_one_card(self) -> LabelRequest:
        if (self.pan is None) == (self.card_token is None):
            raise ValueError("give exactly one of `pan` or `card_token`")
        return self


class ReviewList(BaseModel):
    reviews: list[ReviewCase]


class VerdictResponse(BaseModel):
    review: ReviewCase
    label: Label


class AnalystPublisher:
    """Publishes verdicts (the closed case on `reviews`, its label on `labels`) and chargebacks, and
    answers only once Kafka confirmed them: an HTTPException 503 otherwise."""

    def __init__(
        self, producer: ReviewProducer | None, bootstrap: str, topic_reviews: str, topic_labels: str
    ):
        self.producer = producer
        self.bootstrap = bootstrap
        self.topic_reviews = topic_reviews
        self.topic_labels = topic_labels
        self.refused = 0  # records Kafka refused

    def verdict(self, closed: ReviewCase, label: Label) -> None:
        before = self.refused
        if self.producer is not None:
            # Keyed by swipe id, as the open case was: the two stay in order on one partition.
            key = closed.swipe.swipe_id
            self._send(self.topic_reviews, to_kafka(closed), key)
            self._send(self.topic_labels, to_kafka(label), label.card_token)
        self._confirm("the verdict was not recorded", before)

    def label(self, label: Label) -> None:
        before = self.refused
        if self.producer is not None:
            self._send(self.topic_labels, to_kafka(label), label.card_token)
        self._confirm("the label was not recorded", before)

    def _send(self, topic: str, value: bytes, key: str) -> None:
        """Hand one record to the producer (a label keyed by card token, as every label is, so a
        card's events stay in order); one it refuses counts as refused, and the route answers 503."""
        assert self.producer is not None
        try:
            self.producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
        except Exception:  # BufferError when the local queue is full, KafkaException otherwise
            self.refused += 1

    def _delivered(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self.refused += 1

    def _confirm(self, what: str, before: int) -> None:
        if self.producer is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"{what}: the scorer has no Kafka producer"
            )
        left = self.producer.flush(CONFIRM_TIMEOUT_S)
        if left or self.refused != before:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"{what}: Kafka at {self.bootstrap} did not confirm it in {CONFIRM_TIMEOUT_S:.0f} s; retry",
            )


def chargeback_label(body: LabelRequest, token_key: bytes, now: datetime) -> Label:
    """The label a `POST /v1/labels` body gives: the card tokenized, reported now unless it says when."""
    if body.pan is not None:
        card_token = tokenize_pan(body.pan.get_secret_value(), token_key)
    else:
        assert body.card_token is not None  # the model validator guarantees one of the two
        card_token = body.card_token
    return Label(
        swipe_id=body.swipe_id,
        card_token=card_token,
        merchant_id=body.merchant_id,
        is_fraud=body.is_fraud,
        scenario=body.scenario,
        event_time=body.event_time,
        reported_at=body.reported_at or now,
    )


def review_router(
    queue: ReviewQueue,
    publisher: AnalystPublisher,
    *,
    token_key: bytes,
    clock: Callable[[], datetime],
    dependencies: Sequence[params.Depends] = (),
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> APIRouter:
    """The three routes, behind `dependencies` (the scorer's bearer-token check)."""
    too_large: dict[int | str, dict[str, Any]] = {
        413: {"description": "Body larger than FRAUDSTREAM_MAX_BODY_BYTES."}
    }
    everywhere: dict[int | str, dict[str, Any]] = {**(responses or {}), **too_large}
    router = APIRouter(tags=["reviews"], dependencies=list(dependencies), responses=everywhere)
    unconfirmed: dict[int | str, dict[str, Any]] = {
        503: {"description": "Kafka did not confirm the record; retrying is safe."}
    }

    @router.get("/v1/reviews", response_model=ReviewList)
    def list_reviews(
        status_: Annotated[
            Literal["open"], Query(alias="status", description="Only open cases are kept.")
        ] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> ReviewList:
        """The open review cases, oldest decision first: the swipe (tokenized), its reasons and features."""
        return ReviewList(reviews=queue.open_cases(limit))

    @router.post(
        "/v1/reviews/{swipe_id}",
        response_model=VerdictResponse,
        responses={
            404: {"description": "No review case for this swipe."},
            409: {"description": "The case is closed already."},
            **unconfirmed,
        },
    )
    def post_verdict(
        swipe_id: Annotated[str, Path(min_length=1, max_length=64)], body: VerdictRequest
    ) -> VerdictResponse:
        """Close a case with a verdict; it becomes a label on `labels`, reported now."""
        case = queue.get(swipe_id)
        if case is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no review case for swipe {swipe_id!r}")
        if case.status == "closed":
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"the case of swipe {swipe_id!r} was closed by {case.analyst} ({case.verdict})",
            )
        closed = close_case(case, body.verdict, body.analyst, body.note, clock())
        label = verdict_label(closed)
        publisher.verdict(closed, label)
        queue.upsert(closed)
        return VerdictResponse(review=closed, label=label)

    @router.post("/v1/labels", response_model=Label, responses=unconfirmed)
    def post_label(body: LabelRequest) -> Label:
        """A chargeback for a swipe, published on `labels`; reported now unless `reported_at` says."""
        label = chargeback_label(body, token_key, clock())
        publisher.label(label)
        return label

    return router
