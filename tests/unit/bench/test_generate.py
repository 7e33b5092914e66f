"""The generate bench's pure parts: the recording producer its baseline replays, /proc parsing."""

from __future__ import annotations

from bench.generate import RecordingProducer, cards_seen, generate_swipes, retarget
from bench.machine import status_bytes
from foundation.settings import StackSettings
from streaming.schema import Label, Swipe, from_kafka

SETTINGS = StackSettings(token_key="test-key", topic_swipes="s", topic_labels="l")  # type: ignore[arg-type]


def recorded(cards: int, swipes: int) -> tuple[int, int, list[tuple[str, bytes, bytes]]]:
    producer = RecordingProducer()
    report = generate_swipes(SETTINGS, cards, swipes, producer=producer)
    return report.swipes, report.labels, producer.records


def test_recording_producer_keeps_every_record_generate_publishes_keyed_by_card() -> None:
    swipes, labels, records = recorded(cards=300, swipes=3000)
    assert swipes == 3000
    assert labels > 0  # the scenarios' frauds are labeled, so the baseline carries labels too
    assert len(records) == swipes + labels
    for topic, key, value in records:
        record: Swipe | Label = from_kafka(Swipe, value) if topic == "s" else from_kafka(Label, value)
        assert key == record.card_token.encode()
    assert sum(t == "s" for t, _, _ in records) == swipes


def test_a_second_run_records_the_same_bytes() -> None:
    # The raw baseline produces what the in-memory run recorded; that is only fair if the
    # generator run against Kafka publishes exactly those bytes.
    assert recorded(cards=300, swipes=2000) == recorded(cards=300, swipes=2000)


def test_recording_producer_reports_each_delivery() -> None:
    delivered: list[object] = []
    producer = RecordingProducer()
    producer.produce("t", value=b"v", key="k", on_delivery=lambda err, _msg: delivered.append(err))
    assert delivered == [None]
    assert producer.records == [("t", b"k", b"v")]
    assert producer.flush(1.0) == 0


def test_cards_seen_and_retarget() -> None:
    records = [("s", b"a", b"1"), ("s", b"b", b"2"), ("s", b"a", b"3"), ("l", b"c", b"4")]
    assert cards_seen(records, "s") == 2
    assert cards_seen(records, "l") == 1
    assert retarget(records, {"s": "raw-s", "l": "raw-l"}) == [
        ("raw-s", b"a", b"1"),
        ("raw-s", b"b", b"2"),
        ("raw-s", b"a", b"3"),
        ("raw-l", b"c", b"4"),
    ]


def test_status_bytes_reads_kb_lines_of_proc_status() -> None:
    status = "Name:\tpython\nVmHWM:\t  553912 kB\nVmRSS:\t   98304 kB\n"
    assert status_bytes(status, "VmHWM") == 553912 * 1024
    assert status_bytes(status, "VmRSS") == 98304 * 1024
    assert status_bytes(status, "VmSwap") == 0
    assert status_bytes("Name:\tkthreadd\n", "VmRSS") == 0
