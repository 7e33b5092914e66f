"""`generate` with in-memory producers: the mix, the kinds, late labels, pacing on a fake clock."""

from __future__ import annotations

import heapq
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from foundation.settings import StackSettings
from services.generator.publish import (
    GenerateReport,
    LabelPublisher,
    SwipePublisher,
    _PendingLabels,
    _thefts,
    generate,
    producer_config,
)
from services.generator.scenarios import LabelDelay, LabeledSwipe
from streaming.schema import Label, Swipe, from_kafka
from tests.unit.scoring.builders import T0, card_swipes

START = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
SETTINGS = StackSettings(token_key="test-key")  # type: ignore[arg-type]
ALL = ["stolen_card", "card_testing", "compromised_merchant", "account_takeover"]


class FakeProducer:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bytes]] = []

    def produce(self, topic: str, value: bytes, key: str, on_delivery: object) -> None:
        self.messages.append((topic, key, value))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds


def run(**kw: object) -> tuple[GenerateReport, list[Swipe], list[Label]]:
    sp, lp = FakeProducer(), FakeProducer()
    kw.setdefault("start", START)
    report = generate(
        SETTINGS,
        swipe_publisher=SwipePublisher("unused", "swipes", producer=sp),
        label_publisher=LabelPublisher("unused", "labels", producer=lp),
        **kw,  # type: ignore[arg-type]
    )
    swipes = [from_kafka(Swipe, v) for _, _, v in sp.messages]
    labels = [from_kafka(Label, v) for _, _, v in lp.messages]
    assert all(k == s.card_token for (_, k, _), s in zip(sp.messages, swipes, strict=True))
    assert all(k == lab.card_token for (_, k, _), lab in zip(lp.messages, labels, strict=True))
    return report, swipes, labels


def test_producer_is_idempotent_acks_all_lz4() -> None:
    cfg = producer_config("b:1")
    assert cfg["enable.idempotence"] is True and cfg["acks"] == "all" and cfg["compression.type"] == "lz4"


def test_generate_mixes_every_scenario_into_the_background_in_time_order() -> None:
    report, swipes, labels = run(count=20_000, cards=2_000, scenarios=ALL, seed=3)
    assert report.swipes == len(swipes) == 20_000
    times = [s.event_time for s in swipes]
    assert times == sorted(times) and times[0] >= START
    kinds = report.by_kind
    assert kinds["stolen_card"] == 12 and kinds["card_testing"] == 16 and kinds["account_takeover"] == 8
    assert kinds["compromised_merchant"] > 0
    assert sum(kinds.values()) == 20_000
    assert kinds == report.planned_fraud + Counter(legit=kinds["legit"])
    # every fraud swipe gets its (flushed) label; no legit labels by default
    assert len(labels) == sum(n for k, n in kinds.items() if k != "legit") == report.labels
    assert all(lab.is_fraud for lab in labels)
    fraud_ids = {lab.swipe_id for lab in labels}
    assert fraud_ids <= {s.swipe_id for s in swipes}


def test_stolen_card_theft_lands_on_a_half_hour_boundary() -> None:
    _, swipes, labels = run(count=20_000, cards=200, scenarios=["stolen_card"], seed=1)
    stolen = sorted((lab for lab in labels if lab.scenario == "stolen_card"), key=lambda lab: lab.event_time)
    assert len(stolen) == 12
    first = stolen[0].event_time
    assert first.minute % 30 == 0 and first.second == 0 and first.microsecond == 0
    assert stolen[-1].event_time < first + timedelta(minutes=30)
    # the owner lost the card: from the theft on, only the thief uses it
    fraud_ids = {lab.swipe_id for lab in stolen}
    token = stolen[0].card_token
    after = [s for s in swipes if s.card_token == token and s.event_time >= first]
    assert {s.swipe_id for s in after} == fraud_ids


def test_same_seed_same_stream() -> None:
    _, a, la = run(count=3_000, cards=500, scenarios=["card_testing"], seed=9)
    _, b, lb = run(count=3_000, cards=500, scenarios=["card_testing"], seed=9)
    _, c, _ = run(count=3_000, cards=500, scenarios=["card_testing"], seed=10)
    assert a == b and la == lb
    assert a != c


def test_unseeded_runs_never_share_swipe_ids_and_report_the_seed_that_repeats_them() -> None:
    first, a, _ = run(count=500, cards=100)
    second, b, _ = run(count=500, cards=100)
    assert first.seed is not None and second.seed is not None and first.seed != second.seed
    assert not {s.swipe_id for s in a} & {s.swipe_id for s in b}
    _, again, _ = run(count=500, cards=100, seed=first.seed)
    assert again == a


def test_labels_wait_for_event_time_unless_flushed() -> None:
    # chargebacks ~5 days later, but the run covers only ~a day of event time
    report, _, labels = run(count=2_000, cards=2_000, scenarios=["stolen_card"], seed=2, flush_labels=False)
    assert labels == [] and report.by_kind["stolen_card"] == 12
    fast = LabelDelay(compression=10_000)  # 5 days -> ~43 s of event time
    report, swipes, labels = run(
        count=2_000, cards=2_000, scenarios=["stolen_card"], seed=2, flush_labels=False, label_delay=fast
    )
    assert len(labels) == 12
    merchant_of = {s.swipe_id: s.merchant_id for s in swipes}
    assert all(lab.merchant_id == merchant_of[lab.swipe_id] for lab in labels)
    last = swipes[-1].event_time
    assert all(lab.reported_at <= last for lab in labels)


def test_rate_paces_on_the_clock() -> None:
    clock = FakeClock()
    report, _, _ = run(count=1_000, cards=500, rate=200.0, seed=1, clock=clock, sleep=clock.sleep)
    assert report.swipes == 1_000
    assert clock.slept == pytest.approx(999 / 200.0, abs=0.01)


def test_duration_stops_on_the_clock() -> None:
    clock = FakeClock()
    report, _, _ = run(duration_s=2.0, cards=500, rate=100.0, seed=1, clock=clock, sleep=clock.sleep)
    assert report.swipes == 200


def test_wallclock_mode_stamps_send_time() -> None:
    stamp = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    _, swipes, _ = run(count=100, cards=500, seed=1, wallclock=True, now=lambda: stamp)
    assert {s.event_time for s in swipes} == {stamp}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({}, "exactly one of count or duration_s"),
        ({"count": 1, "duration_s": 1.0}, "exactly one of count or duration_s"),
        ({"count": 1, "rate": -1.0}, "rate must be >= 0"),
        ({"count": 1, "scenarios": ["bank_heist"]}, "unknown scenario"),
    ],
)
def test_bad_arguments_are_refused(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run(cards=100, **kw)


def test_generate_runs_the_field_families_and_labels_a_compromised_terminals_own_traffic() -> None:
    families = ["terminal_compromise", "escalating_card", "low_and_slow"]
    report, swipes, labels = run(count=40_000, cards=300, scenarios=families, seed=4)
    assert {lab.scenario for lab in labels} == set(families)
    by_id = {s.swipe_id: s for s in swipes}
    terminal = [lab for lab in labels if lab.scenario == "terminal_compromise"]
    # the ring's planned charges plus the merchant's regular customers swiping there meanwhile
    assert report.by_kind["terminal_compromise"] > report.planned_fraud["terminal_compromise"] > 0
    assert len({by_id[lab.swipe_id].merchant_id for lab in terminal}) == 1
    assert len({lab.card_token for lab in terminal}) > 3


def test_an_unknown_scenario_names_the_choices() -> None:
    with pytest.raises(ValueError, match="low_and_slow"):
        run(count=10, cards=50, scenarios=["skimming"], seed=1)


def test_a_theft_starts_at_the_first_stolen_card_swipe_of_each_card() -> None:
    a, b = card_swipes("ct_" + "a" * 32, [180, 240]), card_swipes("ct_" + "b" * 32, [60, 120])
    planned = [
        LabeledSwipe(a[0], True, "stolen_card"),
        LabeledSwipe(a[1], True, "stolen_card"),
        LabeledSwipe(b[0], True, "card_testing"),  # another family: the owner keeps the card
        LabeledSwipe(b[1], False, "stolen_card"),  # not fraud
    ]
    assert _thefts(planned) == {a[0].card_token: T0 + timedelta(seconds=180)}


def test_pending_labels_are_published_once_due_earliest_first() -> None:
    producer = FakeProducer()
    report = GenerateReport()
    pending = _PendingLabels(LabelPublisher("unused", "labels", producer=producer), report)
    first, second = card_swipes("ct_" + "a" * 32, [0, 0])
    late = Label.of(first, is_fraud=True, scenario="x", reported_at=T0 + timedelta(hours=2))
    early = Label.of(second, is_fraud=True, scenario="x", reported_at=T0 + timedelta(hours=1))
    for label in (late, early):
        heapq.heappush(pending.heap, (label.reported_at, next(pending.tie), label))
    pending.release(T0 + timedelta(minutes=90))
    assert [from_kafka(Label, v).swipe_id for _, _, v in producer.messages] == ["s1"]
    pending.release(None)
    assert [from_kafka(Label, v).swipe_id for _, _, v in producer.messages] == ["s1", "s0"]
    assert report.labels == 2
