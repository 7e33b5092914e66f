"""The stream bench's backlog: swipes sent minus what each query's last batch had read of the swipes topic."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from bench.stream_lag import Lag


def query(name: str, batch: int, sources: list[dict[str, Any]]) -> SimpleNamespace:
    progress = {
        "batchId": batch,
        "numInputRows": 10,
        "durationMs": {"triggerExecution": 900, "addBatch": 700},
        "sources": sources,
        "stateOperators": [],
    }
    return SimpleNamespace(name=name, lastProgress=progress)


def offsets(topic: str, **partitions: int) -> str:
    return json.dumps({topic: dict(partitions)})


def test_only_the_swipes_source_of_a_two_topic_query_counts() -> None:
    feed = SimpleNamespace(sent=100)
    card = query("card_tiles", 3, [{"endOffset": offsets("swipes", **{"0": 40, "1": 50})}])
    merchant = query(
        "merchant_features",
        1,
        [
            {"endOffset": offsets("labels", **{"0": 500})},
            {"endOffset": offsets("swipes", **{"0": 30, "1": 30})},
        ],
    )
    lag = Lag([card, merchant], "swipes", feed)  # type: ignore[arg-type]
    assert lag.sample() == {"card_tiles": 10, "merchant_features": 40}
    assert len(lag.commits["merchant_features"]) == 1  # a new batch id is a commit, with its backlog
    assert lag.commits["merchant_features"][0][1] == 40
