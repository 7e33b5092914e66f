"""File replay: the --map string, card tokens, row mapping with bad-row reasons, CSV and Parquet reading."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from foundation.card_tokens import tokenize_pan
from foundation.settings import StackSettings
from services.generator.publish import LabelPublisher, SwipePublisher
from services.replay.file import (
    ColumnMap,
    MappingError,
    map_rows,
    parse_mapping,
    read_chunks,
    replay_file,
)
from streaming.schema import Label, Swipe, from_kafka

KEY = b"test-key"
FIXTURE = Path(__file__).parents[3] / "fixtures" / "replay_small.csv"
FULL_MAP = "card=pan,amount=amt,time=ts,merchant=shop,label=is_fraud,id=txn_id,country=cc,mcc=mcc"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("amount=a,time=t", "missing required key(s) card"),
        ("card=c", "missing required key(s) amount, time"),
        ("", "missing required key(s) card, amount, time"),
        ("card=c,amount=a,time=t,shop=s", "key 'shop' is unknown"),
        ("card=c,amount=a,time=t,card=d", "key 'card' is given twice"),
        ("card=c,amount,time=t", "entry 'amount' is not KEY=COLUMN"),
        ("card=,amount=a,time=t", "entry 'card=' is not KEY=COLUMN"),
    ],
)
def test_mapping_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping(text)
    assert message in str(err.value)


def test_mapping_parses_required_and_optional_keys() -> None:
    cmap = parse_mapping(" card = PAN , amount=Amount,time=ts,label=y, ")
    assert cmap == ColumnMap(card="PAN", amount="Amount", time="ts", label="y")
    assert cmap.columns() == {"card": "PAN", "amount": "Amount", "time": "ts", "label": "y"}


def fixture_frame() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, dtype=str, keep_default_na=False)


def test_fixture_rows_map_to_swipes_and_reasoned_bad_rows() -> None:
    mapped = map_rows(fixture_frame(), parse_mapping(FULL_MAP), KEY, 1, "replay_small")
    assert [(b.row, b.key) for b in mapped.bad] == [
        (6, "amount"),
        (7, "time"),
        (8, "card"),
        (9, "label"),
        (10, "country"),
        (12, "amount"),
    ]
    assert "'abc'" in mapped.bad[0].reason and "'yesterday'" in mapped.bad[1].reason
    assert len(mapped.swipes) == 9 and len(mapped.labels) == 9
    assert mapped.labels.count(True) == 2
    by_id = {s.swipe_id: s for s in mapped.swipes}
    assert by_id["t-001"].card_token == by_id["t-002"].card_token == tokenize_pan("4111111111111111", KEY)
    assert by_id["t-003"].event_time == datetime(2026, 11, 20, 13, 5, tzinfo=UTC)  # naive = UTC
    assert by_id["t-004"].event_time == datetime.fromtimestamp(1795654800, UTC)  # epoch seconds
    assert by_id["t-005"].event_time == datetime(2026, 11, 21, 6, 55, tzinfo=UTC)  # +01:00
    assert by_id["t-014"].merchant_id == "unknown" and by_id["t-014"].mcc == "5999"  # defaults
    assert by_id["t-015"].mcc == "0742"
    for s in mapped.swipes:
        assert from_kafka(Swipe, s.model_dump_json()) == s


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1795654800", datetime.fromtimestamp(1795654800, UTC)),
        ("1795654800250", datetime.fromtimestamp(1795654800.25, UTC)),  # milliseconds
        ("2026-11-21T07:55:00.123456+01:00", datetime(2026, 11, 21, 6, 55, 0, 123456, tzinfo=UTC)),
        ("99999999999999999999", None),
        ("-5", None),
        ("21/11/2026", None),
    ],
)
def test_time_column_formats(raw: str, expected: datetime | None) -> None:
    frame = pd.DataFrame({"c": ["4111111111111111"], "a": ["1.0"], "t": [raw]})
    mapped = map_rows(frame, parse_mapping("card=c,amount=a,time=t"), KEY, 1, "f")
    if expected is None:
        assert [b.key for b in mapped.bad] == ["time"]
    else:
        assert mapped.swipes[0].event_time == expected


def test_only_required_columns_fill_the_rest_with_defaults() -> None:
    mapped = map_rows(fixture_frame(), parse_mapping("card=pan,amount=amt,time=ts"), KEY, 1, "replay_small")
    assert {b.key for b in mapped.bad} == {"amount", "time", "card"}
    s = mapped.swipes[0]
    assert (s.swipe_id, s.merchant_id, s.country, s.currency, s.channel) == (
        "replay_small-1",
        "unknown",
        "ZZ",
        "EUR",
        "pos",
    )
    assert mapped.labels[0] is None


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    frame = fixture_frame()
    frame["amt"] = pd.to_numeric(frame["amt"], errors="coerce")
    frame["pan"] = frame["pan"].str.replace(" ", "")
    path = tmp_path / "small.parquet"
    frame.to_parquet(path)
    cmap = parse_mapping(FULL_MAP)
    chunks = list(read_chunks(path, list(cmap.columns().values()), chunk_rows=4))
    assert [len(c) for c in chunks] == [4, 4, 4, 3]
    mapped = [map_rows(c, cmap, KEY, 1 + 4 * i, "small") for i, c in enumerate(chunks)]
    assert sum(len(m.swipes) for m in mapped) == 9
    bad = [b for m in mapped for b in m.bad]
    assert [(b.row, b.key) for b in bad] == [
        (6, "amount"),
        (7, "time"),
        (8, "card"),
        (9, "label"),
        (10, "country"),
        (12, "amount"),
    ]
    assert bad[0].reason == "amount is empty"  # 'abc' became a null in the float column


def test_a_mapped_column_missing_from_the_file_is_named() -> None:
    with pytest.raises(MappingError, match=r"no column\(s\) \['amount'\].*txn_id, pan, amt"):
        next(read_chunks(FIXTURE, ["pan", "amount", "ts"], 100))


class FakeProducer:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bytes]] = []

    def produce(self, topic: str, value: bytes, key: str, on_delivery: object) -> None:
        self.messages.append((topic, key, value))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


def test_replay_publishes_good_rows_and_labels_keyed_by_token_and_counts_bad_ones() -> None:
    swipes, labels = FakeProducer(), FakeProducer()
    report = replay_file(
        StackSettings(token_key=KEY.decode()),  # type: ignore[arg-type]
        FIXTURE,
        FULL_MAP,
        chunk_rows=5,
        swipe_publisher=SwipePublisher("unused", "sw", producer=swipes),
        label_publisher=LabelPublisher("unused", "lb", producer=labels),
    )
    assert (report.rows, report.swipes, report.labels, report.frauds, report.bad_rows) == (15, 9, 9, 2, 6)
    assert report.bad_by_key == {"amount": 2, "time": 1, "card": 1, "label": 1, "country": 1}
    assert [b.row for b in report.bad_examples] == [6, 7, 8, 9, 10, 12]
    for topic, key, value in swipes.messages:
        swipe = from_kafka(Swipe, value)
        assert topic == "sw" and key == swipe.card_token
        assert b"4111111111111111" not in value and b"5555555555554444" not in value
    merchant_of = {s.swipe_id: s.merchant_id for s in (from_kafka(Swipe, v) for _, _, v in swipes.messages)}
    for _, key, value in labels.messages:
        label = from_kafka(Label, value)
        assert key == label.card_token and label.scenario == "file"
        assert label.merchant_id == merchant_of[label.swipe_id]
