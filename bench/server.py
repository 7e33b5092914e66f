"""`python -m bench.server scorer|bare ...`: the two HTTP servers the scorer bench loads, one per process.

Both run exactly as `scoring.serving.app.serve` runs the scorer: JSON logging configured the same way, then
`uvicorn.run(app, workers=1, log_config=None)`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

from foundation.logs import configure_logging


def _run(app: FastAPI, host: str, port: int) -> None:
    uvicorn.run(app, host=host, port=port, workers=1, log_config=None)


def bare_app(body: bytes) -> FastAPI:
    """A POST /v1/score that answers a constant JSON body without reading the request."""
    app = FastAPI()

    @app.post("/v1/score")
    async def score() -> Response:
        return Response(body, media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> dict[str, bool]:
        return {"ready": True}

    return app


def serve_scorer(args: argparse.Namespace) -> None:
    from bench.scorer_shadow import load_table
    from scoring.serving.app import build_producer, create_app
    from scoring.serving.settings import ScorerSettings

    settings = ScorerSettings(
        host=args.host,
        port=args.port,
        model_path=args.model_path,
        kafka_bootstrap=args.bootstrap or None,
        topic_swipes=args.topic_swipes,
        topic_decisions=args.topic_decisions,
        shadow_model_path=args.shadow_model_path or None,
    )
    configure_logging(settings.log_level)
    table = load_table(Path(args.features))
    producer = build_producer(settings) if args.bootstrap else None
    hooks = (lambda: producer.flush(10),) if producer is not None else ()
    _run(create_app(settings, table=table, producer=producer, on_shutdown=hooks), args.host, args.port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("kind", choices=["scorer", "bare"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--features", help="scorer: one CardFeatures Kafka value per line")
    parser.add_argument("--model-path", help="scorer: model artifact JSON")
    parser.add_argument("--bootstrap", default="", help="scorer: Kafka to publish to; empty = no producer")
    parser.add_argument("--topic-swipes", default="swipes")
    parser.add_argument("--topic-decisions", default="decisions")
    parser.add_argument("--shadow-model-path", default="", help="scorer: a challenger artifact to shadow")
    parser.add_argument("--body", help="bare: file holding the constant response body")
    args = parser.parse_args(argv)
    configure_logging("INFO")
    if args.kind == "bare":
        _run(bare_app(Path(args.body).read_bytes()), args.host, args.port)
    else:
        serve_scorer(args)


if __name__ == "__main__":
    main()
