"""`fraudstream replay stolen-card`: the story, on the running stack, swipe by swipe.

Flow (one path for every swipe, so each reaches `swipes` exactly once):
  0. the theft is placed at the first half hour after the stream's current event time (the newest
     swipe on `swipes`, or the wall clock on an empty topic), so a stack with live traffic folds the
     story's burst live. With `speed` above 1 the burst then runs ahead of wall-clock traffic (by up
     to an hour of event time): until that traffic catches up, its swipes are behind the watermark,
     kept in Delta but not tiled (`fraudstream backfill` tiles them); `--speed 1` keeps in step;
  1. the card's normal history and other cards' background traffic are published to `swipes`
     (authorized before the story starts); the days of it behind the job's watermark are dropped
     by the hot query, so
  2. the story's cards are backfilled: once the job's history query has written the history to
     Delta `swipes`, their tiles are computed in Spark batch (streaming.backfill) and published to
     `card-tiles`; then wait until the victim's history is on `card-tiles`;
  3. from the theft on, every swipe (the thief's and other cards' legitimate ones) goes to the
     scorer as a card network would send it, PAN included; the scorer tokenizes it, decides, and
     publishes the decided swipe to `swipes` itself, so denied attempts count in the velocity too;
  4. chargebacks for the fraudulent swipes go to `labels` afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from foundation.topics import kafka_logger
from scoring.serving.model import ModelArtifact
from scoring.serving.rules import RuleSet, context_names, load_rules
from scoring.serving.settings import ScorerSettings
from services.generator.publish import LabelPublisher, SwipePublisher
from services.generator.scenarios import LabeledSwipe
from services.replay.story import StoryDraw, draw_story, fraud_batch_approved
from streaming.schema import CardTile, Label, Swipe, from_kafka
from streaming.tiles import epoch_us


@dataclass
class TimelineRow:
    index: int  # 1-based among the fraudulent swipes; 0 for other cards' legitimate swipes
    event_time: datetime
    merchant_id: str
    country: str
    amount: float
    is_fraud: bool
    decision: str
    score: float | None
    reasons: list[str]
    feature_age_ms: int | None
    latency_ms: float


@dataclass
class ReplayReport:
    rows: list[TimelineRow] = field(default_factory=list)
    fraud_swipes: int = 0
    fraud_approved: int = 0
    first_denied_index: int | None = None
    legit_swipes: int = 0
    legit_denied: int = 0
    batch_baseline_approved: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    model_version: str | None = None

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        del out["rows"]
        return out


def summarize(rows: list[TimelineRow], batch_ok: list[bool], model_version: str | None) -> ReplayReport:
    """Count the outcome of a replay: pure, so the verdict arithmetic is tested as a table."""
    fraud = [r for r in rows if r.is_fraud]
    legit = [r for r in rows if not r.is_fraud]
    latencies = np.array([r.latency_ms for r in rows]) if rows else np.array([0.0])
    first = next((r.index for r in fraud if r.decision == "deny"), None)
    return ReplayReport(
        rows=rows,
        fraud_swipes=len(fraud),
        fraud_approved=sum(r.decision == "approve" for r in fraud),
        first_denied_index=first,
        legit_swipes=len(legit),
        legit_denied=sum(r.decision == "deny" for r in legit),
        batch_baseline_approved=sum(batch_ok),
        p50_ms=round(float(np.percentile(latencies, 50)), 3),
        p99_ms=round(float(np.percentile(latencies, 99)), 3),
        model_version=model_version,
    )


def _reader(bootstrap: str) -> Consumer:
    """A consumer of its own group that commits nothing: the replay assigns partitions itself."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"replay-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "logger": kafka_logger("replay"),
        }
    )


def wait_for_features(
    bootstrap: str, topic: str, card_token: str, as_of: datetime, timeout_s: float
) -> CardTile:
    """Read the tiles `topic` until one of the card's tiles holds its swipe of `as_of` (or a newer)."""
    consumer = _reader(bootstrap)
    prefix, wanted_us = f"{card_token}|".encode(), epoch_us(as_of)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None or not (msg.key() or b"").startswith(prefix):
                continue
            value = msg.value()
            if value is None:
                continue
            record = from_kafka(CardTile, value)
            if record.last_us >= wanted_us:
                return record
    finally:
        consumer.close()
    raise TimeoutError(
        f"the feature job did not publish the card's history to {topic!r} within {timeout_s:.0f}s; "
        "check `fraudstream status` and the feature job's log (.state/logs/stream.log)"
    )


def stream_event_time(bootstrap: str, topic: str) -> datetime | None:
    """The newest event time among the last swipe of each partition of `topic`; None when it is empty."""
    consumer = _reader(bootstrap)
    newest: datetime | None = None
    try:
        for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, high - 1)])
            msg = consumer.poll(10)
            if msg is None or msg.error() is not None or msg.value() is None:
                continue
            try:
                at = from_kafka(Swipe, msg.value()).event_time  # type: ignore[arg-type]
            except ValueError:  # a malformed last record: the job dead-letters it; look no further
                continue
            newest = at if newest is None or at > newest else newest
    finally:
        consumer.close()
    return newest


def theft_time(stream_now: datetime | None, wall_now: datetime) -> datetime:
    """The theft: the first half hour boundary after the stream's event time (the wall clock if none).

    On the boundary, as the story has always been: a batch job every 30 minutes then runs just
    before the theft and again only at the burst's end, the counterfactual the replay reports.
    """
    base = stream_now or wall_now
    step = 1800
    return datetime.fromtimestamp((base.timestamp() // step + 1) * step, UTC)


# Makes the story cards' history reach card-tiles: (their tokens, the last history swipe's id).
Backfill = Callable[[list[str], str], None]


def _score(client: httpx.Client, url: str, pan: str, swipe: Swipe) -> tuple[dict[str, Any], float]:
    body = swipe.model_dump(mode="json", exclude={"card_token", "decision"})
    body["pan"] = pan
    started = time.perf_counter()
    response = client.post(f"{url}/v1/score", json=body)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"the scorer answered {response.status_code}: {response.text[:500]}")
    return response.json(), elapsed_ms


def _publish_history(bootstrap: str, topic: str, published: list[Swipe]) -> None:
    publisher = SwipePublisher(bootstrap, topic)
    for s in published:
        publisher.publish(s)
    if publisher.flush(60) != 0 or publisher.failed:
        raise RuntimeError(f"Kafka did not accept the history: {publisher.last_error}")


Timeline = list[tuple[Swipe, bool, int]]  # (swipe, is fraud, 1-based index among the fraud or 0)


def _timeline(fraud: list[LabeledSwipe], during: list[Swipe]) -> Timeline:
    """The thief's swipes and other cards' legitimate ones from the theft on, in event-time order."""
    timeline: Timeline = [(ls.swipe, True, i + 1) for i, ls in enumerate(fraud)]
    timeline += [(s, False, 0) for s in during]
    timeline.sort(key=lambda item: item[0].event_time)
    return timeline


def _row(index: int, swipe: Swipe, is_fraud: bool, body: dict[str, Any], latency_ms: float) -> TimelineRow:
    return TimelineRow(
        index=index,
        event_time=swipe.event_time,
        merchant_id=swipe.merchant_id,
        country=swipe.country,
        amount=swipe.amount,
        is_fraud=is_fraud,
        decision=body["decision"],
        score=body.get("score"),
        reasons=[r["code"] for r in body.get("reasons", [])],
        feature_age_ms=body.get("feature_age_ms"),
        latency_ms=round(latency_ms, 3),
    )


def _through_scorer(
    scorer_url: str,
    api_token: str | None,
    drawn: StoryDraw,
    timeline: Timeline,
    theft_at: datetime,
    speed: float,
    on_row: Callable[[TimelineRow], None],
) -> tuple[list[TimelineRow], str | None]:
    """Each swipe of `timeline` to the scorer, PAN included, `speed` times faster than event time."""
    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    card_of: dict[str, int] = {}
    rows: list[TimelineRow] = []
    model_version = None
    with httpx.Client(headers=headers, timeout=10.0) as client:
        previous = theft_at
        for swipe, is_fraud, index in timeline:
            if speed > 0:
                time.sleep(max(0.0, (swipe.event_time - previous).total_seconds() / speed))
            previous = swipe.event_time
            card = drawn.victim if is_fraud else _card_of(drawn.pop, swipe.card_token, card_of, drawn.others)
            body, latency_ms = _score(client, scorer_url, drawn.pop.pan(card), swipe)
            model_version = body.get("model_version") or model_version
            row = _row(index, swipe, is_fraud, body, latency_ms)
            rows.append(row)
            on_row(row)
    return rows, model_version


def _publish_chargebacks(bootstrap: str, topic: str, fraud: list[LabeledSwipe]) -> None:
    labels = LabelPublisher(bootstrap, topic)
    for ls in fraud:
        labels.publish(Label.of(ls.swipe, is_fraud=True, scenario=ls.scenario, reported_at=datetime.now(UTC)))
    labels.flush(30)


def run_stolen_card(
    bootstrap: str,
    scorer_url: str,
    scorer_settings: ScorerSettings,
    *,
    backfill: Backfill,
    seed: int = 7,
    speed: float = 60.0,
    background_cards: int = 400,
    theft_at: datetime | None = None,
    features_timeout_s: float = 300.0,
    api_token: str | None = None,
    on_row: Callable[[TimelineRow], None] = lambda _: None,
    progress: Callable[[str], None] = lambda _: None,
) -> ReplayReport:
    """Replay the stolen-card story against a running stack; `speed` compresses the theft's event time.

    `theft_at` defaults to `theft_time` of the swipes topic: the story joins whatever traffic the
    stack already carries. `backfill` gets the story's history onto card-tiles (see the module doc).
    """
    key = scorer_settings.token_key.get_secret_value().encode()
    if theft_at is None:
        theft_at = theft_time(stream_event_time(bootstrap, scorer_settings.topic_swipes), datetime.now(UTC))
    drawn = draw_story(seed, key, background_cards, theft_at)
    pop, others, fraud = drawn.pop, drawn.others, drawn.fraud
    history = [ls.swipe for ls in drawn.story if ls.swipe.event_time < theft_at]
    before = [s for s in drawn.traffic if s.event_time < theft_at]
    during = [s for s in drawn.traffic if s.event_time >= theft_at]

    progress(
        f"publishing {len(history)} history swipes of the card and {len(before)} of {len(others)} others"
    )
    published = sorted(history + before, key=lambda s: s.event_time)
    _publish_history(bootstrap, scorer_settings.topic_swipes, published)

    token = pop.token(drawn.victim)
    progress(f"backfilling the history of {pop.cards} story cards (Delta swipes -> card-tiles)")
    # Flushed first, published last: once it is in Delta, every swipe published before it is too.
    backfill([pop.token(c) for c in range(pop.cards)], published[-1].swipe_id)
    progress("waiting for the card's history on card-tiles")
    wait_for_features(
        bootstrap, scorer_settings.topic_tiles, token, history[-1].event_time, features_timeout_s
    )
    time.sleep(2.0)  # the scorer follows the same topic; give it a moment to read the record

    progress(f"the theft: {len(fraud)} fraudulent and {len(during)} legitimate swipes through the scorer")
    timeline = _timeline(fraud, during)
    rows, model_version = _through_scorer(scorer_url, api_token, drawn, timeline, theft_at, speed, on_row)
    _publish_chargebacks(bootstrap, scorer_settings.topic_labels, fraud)

    model, rules = _decision_parts(scorer_settings)
    fraud_ids = {ls.swipe.swipe_id for ls in fraud}
    card_swipes = history + [ls.swipe for ls in fraud]
    batch_ok = fraud_batch_approved(card_swipes, fraud_ids, model, rules, scorer_settings.feature_config)
    return summarize(rows, batch_ok, model_version)


def _card_of(pop: Any, token: str, cache: dict[str, int], cards: np.ndarray) -> int:
    if token not in cache:
        for c in cards:
            cache.setdefault(pop.token(int(c)), int(c))
    return cache[token]


def _decision_parts(settings: ScorerSettings) -> tuple[ModelArtifact | None, RuleSet | None]:
    path = settings.resolved_model_path
    model = ModelArtifact.load(path) if path.exists() else None
    rules = load_rules(settings.rules_path, context_names(settings.feature_config))
    return model, rules
