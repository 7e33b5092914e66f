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

from scoring.api import _ONE_CARD, _PAN_SCHEMA
from scoring.reviews import ReviewQueue, close_case, verdict_label
from services.publish import LabelPublisher
from services.tokenize import normalize_pan, tokenize_pan
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
    note: Annotated[str, Field(max_length=2000)] = ""


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
        if value is not None and not isinstance(value, str | datetime):
            raise ValueError(
                "expected an RFC 3339 date-time string with its offset, e.g. 2026-11-27T09:00:00Z"
            )
        return value

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


def review_router(
    queue: ReviewQueue,
    producer: ReviewProducer | None,
    *,
    bootstrap: str,
    topic_reviews: str,
    topic_labels: str,
    token_key: bytes,
    clock: Callable[[], datetime],
    dependencies: Sequence[params.Depends] = (),
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> APIRouter:
    """The three routes, behind `dependencies` (the scorer's bearer-token check)."""
    too_large: dict[int | str, dict[str, Any]] = {
        413: {"description": "Body larger than FRAUDSTREAM_MAX_BODY_BYTES."}
    }
    router = APIRouter(
        tags=["reviews"], dependencies=list(dependencies), responses={**(responses or {}), **too_large}
    )
    unconfirmed: dict[int | str, dict[str, Any]] = {
        503: {"description": "Kafka did not confirm the record; retrying is safe."}
    }
    labels = LabelPublisher(bootstrap, topic_labels, producer=producer) if producer is not None else None
    failures = [0]  # the review records Kafka refused

    def refused(err: Any, _msg: Any) -> None:
        if err is not None:
            failures[0] += 1

    def confirm(what: str, failed_before: tuple[int, int]) -> None:
        if producer is None or labels is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"{what}: the scorer has no Kafka producer"
            )
        left = producer.flush(CONFIRM_TIMEOUT_S)
        if left or (labels.failed, failures[0]) != failed_before:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"{what}: Kafka at {bootstrap} did not confirm it within {CONFIRM_TIMEOUT_S:.0f} s; retry",
            )

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
        before = (labels.failed if labels else 0, failures[0])
        if producer is not None and labels is not None:
            # Keyed by swipe id, as the open case was: the two stay in order on one partition.
            producer.produce(topic_reviews, value=to_kafka(closed), key=swipe_id, on_delivery=refused)
            labels.publish(label)
        confirm("the verdict was not recorded", before)
        queue.upsert(closed)
        return VerdictResponse(review=closed, label=label)

    @router.post("/v1/labels", response_model=Label, responses=unconfirmed)
    def post_label(body: LabelRequest) -> Label:
        """A chargeback for a swipe, published on `labels`; reported now unless `reported_at` says."""
        if body.pan is not None:
            card_token = tokenize_pan(body.pan.get_secret_value(), token_key)
        else:
            assert body.card_token is not None  # the model validator guarantees one of the two
            card_token = body.card_token
        label = Label(
            swipe_id=body.swipe_id,
            card_token=card_token,
            merchant_id=body.merchant_id,
            is_fraud=body.is_fraud,
            scenario=body.scenario,
            event_time=body.event_time,
            reported_at=body.reported_at or clock(),
        )
        before = (labels.failed if labels else 0, failures[0])
        if labels is not None:
            labels.publish(label)
        confirm("the label was not recorded", before)
        return label

    return router
