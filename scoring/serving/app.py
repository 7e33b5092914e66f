"""The FastAPI edge of the scorer: routes, bearer auth, body limit, /metrics; `serve` runs it.

The analyst's routes (review queue, verdicts, labels) are `scoring.serving.review_api`, behind the same token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from foundation.card_tokens import tokenize_normalized_pan
from scoring.serving.api import BodySizeLimit, ScoreRequest
from scoring.serving.direct_route import direct_route
from scoring.serving.metrics import ScorerMetrics
from scoring.serving.online import FeatureFollower, OnlineFeatureTable, OnlineMerchantTable
from scoring.serving.review_api import AnalystPublisher, ReviewProducer, review_router
from scoring.serving.reviews import ReviewQueue
from scoring.serving.scorer import Follower, Producer, Scorer
from scoring.serving.settings import ScorerSettings
from streaming.decision_record import ScoreResponse

log = logging.getLogger("fraudstream.scoring.app")

_bearer = HTTPBearer(auto_error=False, description="FRAUDSTREAM_API_TOKEN, when the scorer has one.")

# The routes' dependency aliases, in one place.
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ExplainQuery = Annotated[bool, Query(description="Include the model inputs.")]

_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"description": "Missing or wrong bearer token."}}
_TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"description": "Body larger than FRAUDSTREAM_MAX_BODY_BYTES."}
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BearerAuth:
    """The one bearer-token check, of FastAPI's dependency and of the direct route alike."""

    token: bytes | None  # None: no token required

    def ok(self, given: bytes) -> bool:
        return self.token is None or hmac.compare_digest(given, self.token)

    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on every request.
    async def authorized(self, credentials: BearerCredentials) -> None:
        given = credentials.credentials.encode("utf-8") if credentials is not None else b""
        if not self.ok(given):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @property
    def dependencies(self) -> list[Any]:
        # The bearer scheme (and its 401) is in the OpenAPI document only when a token is required.
        return [Depends(self.authorized)] if self.token is not None else []

    @property
    def responses(self) -> dict[int | str, dict[str, Any]]:
        return dict(_UNAUTHORIZED) if self.token is not None else {}


def _lifespan(on_shutdown: Sequence[Callable[[], None]]) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for hook in on_shutdown:
            try:
                hook()
            except Exception:
                log.exception("shutdown step failed", extra={"step": getattr(hook, "__name__", str(hook))})

    return lifespan


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes the offending `input`, which could be a card number: keep loc/msg/type.
    detail = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    # A body that is not UTF-8 JSON: answer like any other invalid body, naming `body`.
    if exc.status_code == status.HTTP_400_BAD_REQUEST and "parsing the body" in str(exc.detail):
        detail = [{"type": "json_invalid", "loc": ["body"], "msg": "the body is not valid UTF-8 JSON"}]
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return await http_exception_handler(request, exc)


@dataclass(frozen=True)
class _Decider:
    """POST /v1/score's work: tokenize the PAN, decide, answer; FastAPI's way or the direct one."""

    scorer: Scorer
    token_key: bytes
    auth: BearerAuth

    def decide(self, request: ScoreRequest, explain: bool) -> Response:
        if request.pan is not None:
            # ScoreRequest's validator normalized the PAN and checked its Luhn digit already.
            card_token = tokenize_normalized_pan(request.pan.get_secret_value(), self.token_key)
        else:
            assert request.card_token is not None  # the model validator guarantees one of the two
            card_token = request.card_token
        # The scorer built a valid ScoreResponse: serialize it once here rather than have FastAPI
        # validate it a second time against `response_model` (which stays for the OpenAPI schema).
        decided, after = self.scorer.decide(request, card_token, explain=explain)
        # The challenger runs once the response body is sent (Starlette's background task), on the
        # event loop like the rest of the scorer: off this response's latency, never changing it.
        background = BackgroundTask(_on_the_loop(after)) if after is not None else None
        return Response(decided.model_dump_json(), media_type="application/json", background=background)

    async def decide_directly(self, request: Request) -> Response | None:
        """The usual swipe: JSON, no query, the exact token, a valid body. None: FastAPI's way.

        Every check errs towards None: FastAPI's handler then gives the answer it always gave,
        a 401 or a 422 included. The body is parsed once, from bytes, by pydantic.
        """
        headers = request.headers
        if request.scope["query_string"] or headers.get("content-type") != "application/json":
            return None
        if self.auth.token is not None:
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme != "Bearer" or not self.auth.ok(given.encode("utf-8")):
                return None
        try:
            swipe = ScoreRequest.model_validate_json(await request.body())
        except ValidationError:
            return None
        return self.decide(swipe, explain=False)


def _add_score_route(app: FastAPI, decider: _Decider) -> None:
    """POST /v1/score, on the app's own router: the direct route is the scorer's hot path."""

    async def score(request: ScoreRequest, explain: ExplainQuery = False) -> Response:
        """Decide one swipe. Pure CPU work of well under a millisecond, so it runs on the event loop."""
        return decider.decide(request, explain)

    app.router.add_api_route(
        "/v1/score",
        score,
        methods=["POST"],
        response_model=ScoreResponse,
        tags=["scoring"],
        dependencies=decider.auth.dependencies,
        responses={**decider.auth.responses, **_TOO_LARGE},
        route_class_override=direct_route(decider.decide_directly),
    )


def _review_router(
    settings: ScorerSettings,
    reviews: ReviewQueue,
    producer: Producer | None,
    clock: Callable[[], datetime],
    auth: BearerAuth,
    token_key: bytes,
) -> APIRouter:
    """The analyst's routes (`scoring.review_api`), behind the scorer's bearer token."""
    publisher = AnalystPublisher(
        producer if isinstance(producer, ReviewProducer) else None,
        settings.bootstrap,
        settings.topic_reviews,
        settings.topic_labels,
    )
    return review_router(
        reviews,
        publisher,
        token_key=token_key,
        clock=clock,
        dependencies=auth.dependencies,
        responses=auth.responses,
    )


@dataclass(frozen=True)
class _Feeds:
    """The topics the scorer follows, for /readyz."""

    features: Follower | None
    merchant_features: Follower | None
    reviews: Follower | None

    @property
    def present(self) -> list[Follower]:
        return [f for f in (self.features, self.merchant_features, self.reviews) if f is not None]


def _add_operations_routes(app: FastAPI, scorer: Scorer, feeds: _Feeds, registry: CollectorRegistry) -> None:
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """200 once the feature tables caught up with their topics and a model is loaded."""
        model = scorer.model.current()
        checks: dict[str, Any] = {
            "features": _features_status(feeds.features),
            "merchant_features": _features_status(feeds.merchant_features),
            "reviews": _features_status(feeds.reviews),
            "model": model.version if model else (scorer.model.error or "not loaded"),
            "rules": "loaded" if scorer.rules.current() is not None else scorer.rules.error,
            "cards": len(scorer.table),
            "merchants": len(scorer.merchants),
        }
        ready = all(f.ready for f in feeds.present) and model is not None
        code = status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
        return JSONResponse({"ready": ready, **checks}, status_code=code)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=PlainTextResponse,
        responses={200: {"description": "The Prometheus text exposition format."}},
    )
    async def prometheus_metrics() -> Response:
        """The scorer's metrics for Prometheus to scrape (text/plain, version 1.0.0 of the format)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: ScorerSettings,
    *,
    table: OnlineFeatureTable | None = None,
    follower: Follower | None = None,
    merchants: OnlineMerchantTable | None = None,
    merchant_follower: Follower | None = None,
    producer: Producer | None = None,
    reviews: ReviewQueue | None = None,
    review_follower: Follower | None = None,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], datetime] | None = None,
    on_shutdown: Sequence[Callable[[], None]] = (),
) -> FastAPI:
    """The scorer app. Starting the follower and producer is the caller's job (`serve`).

    `on_shutdown` runs in the app's lifespan: uvicorn re-raises SIGTERM after its shutdown, so code
    after `uvicorn.run` may never run; this is where the follower stops and the producer flushes.
    """
    table = table if table is not None else OnlineFeatureTable(settings.feature_config)
    merchants = merchants if merchants is not None else OnlineMerchantTable()
    reviews = reviews if reviews is not None else ReviewQueue()
    feeds = _Feeds(follower, merchant_follower, review_follower)
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ScorerMetrics(registry)
    clock = clock or _utc_now
    scorer = Scorer(
        settings,
        table,
        metrics,
        clock,
        merchants=merchants,
        follower=follower,
        producer=producer,
        reviews=reviews,
    )
    metrics.watch(
        table_size=lambda: len(table),
        consumer_lag=lambda: sum(f.lag for f in feeds.present),
        malformed=lambda: sum(f.malformed for f in feeds.present),
        score_psi=scorer.score_psi,
    )
    token_key = settings.token_key.get_secret_value().encode("utf-8")
    auth = BearerAuth(settings.api_token.get_secret_value().encode("utf-8") if settings.api_token else None)

    app = FastAPI(
        lifespan=_lifespan(on_shutdown),
        title="fraudstream scorer",
        version="1",
        description="Approve or deny a card swipe in milliseconds, with the reasons.",
    )
    app.state.scorer = scorer
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    _add_score_route(app, _Decider(scorer, token_key, auth))
    app.include_router(_review_router(settings, reviews, producer, clock, auth, token_key))
    _add_operations_routes(app, scorer, feeds, registry)
    return app


def _on_the_loop(work: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """`work` as a coroutine function, so Starlette runs it on the loop rather than in a thread."""

    async def run() -> None:
        work()

    return run


def _features_status(follower: Follower | None) -> str:
    if follower is None or follower.ready:
        return "caught up"
    error = getattr(follower, "error", None)
    return f"catching up, lag {follower.lag}" + (f"; {error}" if error else "")


def build_producer(settings: ScorerSettings) -> Any:
    """An idempotent, lz4-compressed producer. No network call until the first produce/poll."""
    from confluent_kafka import Producer as KafkaProducer

    return KafkaProducer(
        {
            "bootstrap.servers": settings.bootstrap,
            "client.id": "fraudstream-scorer",
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": settings.publish_linger_ms,
            # Bounded: with Kafka down, produce() fails fast (counted) instead of buffering forever.
            "queue.buffering.max.messages": 100_000,
            # A decided swipe must reach `swipes` (it counts in the card's velocity): ride out a broker
            # outage of up to 10 minutes in the bounded queue; past that it is counted as a failure.
            "message.timeout.ms": 600_000,
            "logger": logging.getLogger("fraudstream.scoring.kafka"),
        }
    )


def serve(settings: ScorerSettings) -> None:
    """Run the scorer: follower thread, producer, one uvicorn worker (serving.metrics says why one)."""
    import uvicorn

    from foundation.logs import configure_logging

    configure_logging(settings.log_level)
    table, merchants, reviews = (
        OnlineFeatureTable(settings.feature_config),
        OnlineMerchantTable(),
        ReviewQueue(),
    )
    follower = FeatureFollower(settings.bootstrap, settings.topic_tiles, table)
    merchant_follower = FeatureFollower(settings.bootstrap, settings.topic_merchant_features, merchants)
    review_follower = FeatureFollower(settings.bootstrap, settings.topic_reviews, reviews)
    producer = build_producer(settings)

    def flush_producer() -> None:
        left = producer.flush(5)
        if left:
            log.warning("records not delivered at shutdown", extra={"count": left})

    app = create_app(
        settings,
        table=table,
        follower=follower,
        merchants=merchants,
        merchant_follower=merchant_follower,
        producer=producer,
        reviews=reviews,
        review_follower=review_follower,
        on_shutdown=(follower.stop, merchant_follower.stop, review_follower.stop, flush_producer),
    )
    follower.start()
    merchant_follower.start()
    review_follower.start()
    log.info(
        "scorer starting",
        extra={
            "host": settings.host,
            "port": settings.port,
            "kafka": settings.bootstrap,
            "auth": bool(settings.api_token),
        },
    )
    uvicorn.run(app, host=settings.host, port=settings.port, workers=1, log_config=None)
