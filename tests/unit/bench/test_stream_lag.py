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


def test_a_relayed_query_of_the_history_driver_is_sampled_like_a_local_one() -> None:
    from bench.stream_lag import relayed_queries

    relayed, on_progress = relayed_queries(("history", "sessions"))
    feed = SimpleNamespace(sent=100)
    lag = Lag(relayed, "swipes", feed)  # type: ignore[arg-type]
    assert lag.sample() == {"history": 100, "sessions": 100}  # nothing relayed yet: all behind
    # the relay carries progress as parsed JSON: the offsets are a mapping, not a JSON string
    on_progress(
        {
            **query("history", 4, [{"endOffset": {"swipes": {"0": 30, "1": 40}}}]).lastProgress,
            "name": "history",
        }
    )
    on_progress({"name": "card_tiles", "batchId": 9})  # not one of the child's queries: ignored
    assert lag.sample() == {"history": 30, "sessions": 100}
    assert [b["rows"] for b in lag.batches["history"]] == [10]


def test_a_step_says_apart_whether_the_hot_query_kept_up() -> None:
    feed = SimpleNamespace(sent=0)
    queries = [SimpleNamespace(name="card_tiles"), SimpleNamespace(name="history")]
    lag = Lag(queries, "swipes", feed)  # type: ignore[arg-type]
    # card_tiles commits every second with a flat backlog; history commits once, at the start
    lag.commits["card_tiles"] = [(float(t), 50) for t in range(0, 31)]
    lag.commits["history"] = [(0.5, 3000)]
    step = lag.judge(100.0, 0.0, 30.0, 3000)
    assert step.hot_kept_up and not step.kept_up
    assert step.limiting_query == "history"
