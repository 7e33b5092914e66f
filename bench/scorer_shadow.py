"""The challenger's cost in process: `Scorer.decide` (the response) and its after-response work.

Beside the wrk runs of `bench scorer` (whose latencies move with whatever else shares the cores),
the same scorer decides the bench's bodies in this process, with and without a shadow model, in
alternating rounds so both see the same machine: the time to the response, and the time of the
work that runs after it (the challenger, then the decision record; no producer here).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from foundation.card_tokens import tokenize_pan
from scoring.serving.api import ScoreRequest
from scoring.serving.metrics import ScorerMetrics
from scoring.serving.online import OnlineFeatureTable
from scoring.serving.scorer import Scorer
from scoring.serving.settings import ScorerSettings
from streaming.schema import CardFeatures, from_kafka

ROUNDS = 6


def load_table(features_path: Path) -> OnlineFeatureTable:
    """The bench's feature records (one CardFeatures Kafka value a line) as an online table."""
    table = OnlineFeatureTable()
    with features_path.open("rb") as fh:
        for line in fh:
            raw = line.rstrip(b"\n")
            table.upsert(from_kafka(CardFeatures, raw))
    return table


def shadow_cost(
    features_path: Path, bodies_path: Path, model: Path, shadow: Path, per_round: int = 1000
) -> dict[str, Any]:
    """Median µs per swipe of the response path without and with the shadow, and of the after-work."""
    table = load_table(features_path)
    base = ScorerSettings(model_path=model)
    key = base.token_key.get_secret_value().encode()
    with bodies_path.open() as fh:
        requests = [
            ScoreRequest.model_validate_json(line) for _, line in zip(range(per_round), fh, strict=False)
        ]
    swipes = [
        (r, tokenize_pan(r.pan.get_secret_value(), key) if r.pan is not None else str(r.card_token))
        for r in requests
    ]
    now = datetime.now(UTC)
    scorers = {
        name: Scorer(
            base.model_copy(update={"shadow_model_path": path}),
            table,
            ScorerMetrics(CollectorRegistry()),
            lambda: now,
        )
        for name, path in (("without", None), ("with", shadow))
    }
    timings: dict[str, list[float]] = {"without": [], "with": [], "after": []}
    for _ in range(ROUNDS):
        for name, scorer in scorers.items():
            for swipe, token in swipes:
                started = time.perf_counter()
                _, after = scorer.decide(swipe, token)
                decided = time.perf_counter()
                timings[name].append((decided - started) * 1e6)
                if after is not None:
                    after()
                    timings["after"].append((time.perf_counter() - decided) * 1e6)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {
        "swipes_per_variant": len(swipes) * ROUNDS,
        "response_us_without": round(medians["without"], 1),
        "response_us_with": round(medians["with"], 1),
        "response_ratio": round(medians["with"] / medians["without"], 3),
        "after_response_us": round(medians["after"], 1),
    }
