"""The point-in-time training set: labels known as of training time, settled swipes only, no leakage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scoring.training.training_set import LabelCutoff, TrainingWindow, known_fraud, training_rows
from streaming.schema import Label, Swipe
from tests.unit.scoring.builders import CFG, T0, TOKEN, swipe

DAY = timedelta(days=1)


def card_swipe(i: int, day: float, amount: float = 20.0, token: str = TOKEN) -> Swipe:
    details = swipe(i, seconds=day * 86400, amount=amount)
    return Swipe(card_token=token, **details.model_dump())


def label(s: Swipe, reported_day: float, is_fraud: bool = True) -> Label:
    return Label.of(s, is_fraud=is_fraud, scenario="test", reported_at=T0 + reported_day * DAY)


#   day        0    1    2    3    4    5    6    7    8    9   10
#   swipes     s0   s1   s2   s3   s4   s5   s6   s7   s8   s9
#   window          [start = 1 ............................ end = 10)
#   as_of = 10, delay 3 d: settled before day 7, so s7, s8, s9 are too young
SWIPES = [card_swipe(i, day=i) for i in range(10)]


@pytest.mark.parametrize(
    ("labels", "as_of_day", "delay_days", "examples", "fraud"),
    [
        # no labels: every settled swipe in the window is a legitimate example
        ([], 10, 3, ["s1", "s2", "s3", "s4", "s5", "s6"], []),
        # s2's chargeback arrived on day 4, before training: fraud
        ([label(SWIPES[2], 4)], 10, 3, ["s1", "s2", "s3", "s4", "s5", "s6"], ["s2"]),
        # s2's chargeback arrives on day 11, after training ran: not known, so legitimate
        ([label(SWIPES[2], 11)], 10, 3, ["s1", "s2", "s3", "s4", "s5", "s6"], []),
        # a label that clears the swipe is not fraud
        ([label(SWIPES[3], 5, is_fraud=False)], 10, 3, ["s1", "s2", "s3", "s4", "s5", "s6"], []),
        # s8 is known fraud but younger than the delay: still not an example (its peers have no labels yet)
        ([label(SWIPES[8], 9)], 10, 3, ["s1", "s2", "s3", "s4", "s5", "s6"], []),
        # no delay: every swipe in the window up to as_of
        ([label(SWIPES[8], 9)], 10, 0, ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"], ["s8"]),
    ],
)
def test_examples_and_labels_are_what_was_known_at_training_time(
    labels: list[Label], as_of_day: float, delay_days: float, examples: list[str], fraud: list[str]
) -> None:
    cutoff = LabelCutoff(as_of=T0 + as_of_day * DAY, label_delay=delay_days * DAY)
    rows = training_rows(SWIPES, labels, TrainingWindow(T0 + DAY, T0 + 10 * DAY), cutoff, CFG)
    ids = {s.event_time: s.swipe_id for s in SWIPES}
    assert [ids[r.t] for r in rows] == examples
    assert [ids[r.t] for r in rows if r.is_fraud] == fraud


def test_features_see_the_warm_up_but_never_the_label_or_a_later_swipe() -> None:
    # s0 is warm-up (before the window): not an example, yet s1's features count it.
    window = TrainingWindow(T0 + DAY, T0 + 10 * DAY)
    cutoff = LabelCutoff(as_of=T0 + 20 * DAY, label_delay=DAY)
    history = [card_swipe(0, 0.99), card_swipe(1, 1.0, amount=900.0), card_swipe(2, 1.001)]
    plain = training_rows(history, [], window, cutoff, CFG)
    labelled = training_rows(history, [label(history[1], 2)], window, cutoff, CFG)
    assert [r.is_fraud for r in labelled] == [True, False]
    # The label changes the target only, never an input.
    assert [r.inputs for r in labelled] == [r.inputs for r in plain]
    # s1's velocity counts the warm-up s0 and s1 itself (as the scorer's request does), never s2.
    assert plain[0].inputs["velocity_3600_count"] == 2.0
    assert plain[1].inputs["velocity_3600_count"] == 3.0
    without_future = training_rows(history[:2], [], window, cutoff, CFG)
    assert without_future[0].inputs == plain[0].inputs


def test_a_swipe_published_twice_is_one_example() -> None:
    cutoff = LabelCutoff(as_of=T0 + 20 * DAY, label_delay=DAY)
    rows = training_rows(SWIPES + SWIPES[:3], [], TrainingWindow(T0, T0 + 10 * DAY), cutoff, CFG)
    assert len(rows) == 10


def test_known_fraud_reads_only_fraud_labels_reported_by_as_of() -> None:
    labels = [label(SWIPES[1], 2), label(SWIPES[2], 3, is_fraud=False), label(SWIPES[3], 6)]
    assert known_fraud(labels, LabelCutoff(T0 + 5 * DAY, DAY)) == {"s1"}


@pytest.mark.parametrize(
    ("start", "end", "as_of", "delay", "message"),
    [
        (5, 8, 9, 5, "no swipe in the training window has a settled label"),
        (5, 5, 9, 1, "the training window is empty"),
    ],
)
def test_an_unusable_window_says_what_to_do(
    start: int, end: int, as_of: int, delay: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        training_rows(
            SWIPES,
            [],
            TrainingWindow(T0 + start * DAY, T0 + end * DAY),
            LabelCutoff(T0 + as_of * DAY, delay * DAY),
            CFG,
        )
