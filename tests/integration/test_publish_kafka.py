"""The generator and the file replay against the real broker: what lands on the topics."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer
from rich.console import Console

from foundation.card_tokens import tokenize_pan
from foundation.settings import StackSettings
from services.generator.publish import check_reachable, run_generate
from services.kafka.broker import KafkaUnavailable
from services.replay.file import run_replay
from streaming.schema import Label, Swipe, from_kafka
from tests.eventually import assert_eventually

pytestmark = pytest.mark.integration

KEY = "integration-test-key"
FIXTURE = Path(__file__).parents[1] / "fixtures" / "replay_small.csv"
FULL_MAP = "card=pan,amount=amt,time=ts,merchant=shop,label=is_fraud,id=txn_id,country=cc,mcc=mcc"


def read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    """Every (key, value) on the topic, once `expected` messages have arrived."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    seen: list[tuple[bytes, bytes]] = []

    def arrived() -> list[tuple[bytes, bytes]]:
        for msg in consumer.consume(num_messages=10_000, timeout=1.0):
            assert msg.error() is None, msg.error()
            key, value = msg.key(), msg.value()
            assert key is not None and value is not None
            seen.append((key, value))
        assert len(seen) >= expected, f"{len(seen)} of {expected} messages on {topic}"
        return seen

    try:
        assert_eventually(arrived, timeout=60)
        consumer.consume(num_messages=10_000, timeout=2.0)  # nothing beyond what we expect
        return seen
    finally:
        consumer.close()


@pytest.fixture
def settings(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> StackSettings:
    return StackSettings(
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_labels=topic_factory("labels"),
        token_key=KEY,  # type: ignore[arg-type]
    )


def test_replay_of_the_fixture_publishes_good_rows_and_reports_bad_ones(settings: StackSettings) -> None:
    out = io.StringIO()
    report = run_replay(settings, FIXTURE, FULL_MAP, console=Console(file=out, width=120))
    assert (report.rows, report.swipes, report.labels, report.bad_rows, report.delivery_errors) == (
        15,
        9,
        9,
        6,
        0,
    )
    assert "row 6" in out.getvalue() and "amount 'abc' is not a number" in out.getvalue()

    swipes = read_all(settings.bootstrap, settings.topic_swipes, 9)
    assert len(swipes) == 9
    parsed = [from_kafka(Swipe, v) for _, v in swipes]
    assert {s.swipe_id for s in parsed} == {
        "t-001",
        "t-002",
        "t-003",
        "t-004",
        "t-005",
        "t-011",
        "t-013",
        "t-014",
        "t-015",
    }
    assert all(k.decode() == s.card_token for (k, _), s in zip(swipes, parsed, strict=True))
    assert tokenize_pan("4111111111111111", KEY.encode()) in {s.card_token for s in parsed}
    raw = b"".join(v for _, v in swipes)
    for pan in (b"4111111111111111", b"5555555555554444", b"378282246310005", b"6011111111111117"):
        assert pan not in raw

    labels = [from_kafka(Label, v) for _, v in read_all(settings.bootstrap, settings.topic_labels, 9)]
    assert len(labels) == 9 and sum(lab.is_fraud for lab in labels) == 2
    assert {lab.swipe_id for lab in labels if lab.is_fraud} == {"t-003", "t-011"}


def test_generate_publishes_the_count_with_stolen_card_fraud_and_labels(settings: StackSettings) -> None:
    report = run_generate(
        settings, rate=0, count=3_000, cards=1_000, scenarios=["stolen_card"], seed=5,
        console=Console(file=io.StringIO()),
    )  # fmt: skip
    assert report.swipes == 3_000 and report.delivery_errors == 0
    assert report.by_kind["stolen_card"] == 12 and report.labels == 12

    swipes = [from_kafka(Swipe, v) for _, v in read_all(settings.bootstrap, settings.topic_swipes, 3_000)]
    assert len(swipes) == 3_000 and len({s.swipe_id for s in swipes}) == 3_000
    labels = [from_kafka(Label, v) for _, v in read_all(settings.bootstrap, settings.topic_labels, 12)]
    assert len(labels) == 12 and all(lab.is_fraud and lab.scenario == "stolen_card" for lab in labels)
    fraud_ids = {lab.swipe_id for lab in labels}
    assert fraud_ids <= {s.swipe_id for s in swipes}
    assert len({lab.card_token for lab in labels}) == 1


def test_unreachable_kafka_says_what_to_do() -> None:
    with pytest.raises(KafkaUnavailable, match="fraudstream up"):
        check_reachable("127.0.0.1:1", timeout_s=1.0)
