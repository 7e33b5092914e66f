"""Category fraud priors: smoothed, point in time, and no label reaches its own row."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from scoring.serving.priors import CategoryPrior, point_in_time_priors
from tests.unit.scoring.builders import T0


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def rows(
    labels: list[tuple[str, bool]], same_time: bool = False
) -> list[tuple[object, dict[str, str], bool]]:
    return [
        (T0 + timedelta(seconds=0 if same_time else i), {"mcc": mcc}, fraud)
        for i, (mcc, fraud) in enumerate(labels)
    ]


def test_each_row_sees_only_earlier_labels() -> None:
    labels = [("5411", False), ("5732", True), ("5732", True), ("5411", False), ("5732", False)]
    values, (table,) = point_in_time_priors(rows(labels), ["mcc"], smoothing=2.0)  # type: ignore[arg-type]
    base = 2 / 5  # the split's fraud rate
    expected_5732 = [
        0.0,  # never seen before
        logit((1 + 2 * base) / (1 + 2)) - logit(base),  # one earlier fraud
        logit((2 + 2 * base) / (2 + 2)) - logit(base),  # two earlier frauds; not its own label
    ]
    got = [v["mcc_prior"] for v, (mcc, _) in zip(values, labels, strict=True) if mcc == "5732"]
    assert got == pytest.approx(expected_5732, abs=1e-12)
    assert values[0]["mcc_prior"] == pytest.approx(0.0, abs=1e-12)
    assert table.counts == {"5411": (0, 2), "5732": (2, 3)}


def test_flipping_a_label_changes_only_later_rows() -> None:
    labels = [("5732", True), ("5732", False), ("5732", True), ("5732", False)]
    flipped = [*labels[:2], ("5732", False), labels[3]]
    a, _ = point_in_time_priors(rows(labels), ["mcc"])  # type: ignore[arg-type]
    b, _ = point_in_time_priors(rows(flipped), ["mcc"])  # type: ignore[arg-type]
    # the base rate is the split's, so every row shifts a little; the counts before row 3 do not
    assert a[0]["mcc_prior"] == pytest.approx(0.0, abs=1e-12)
    assert b[0]["mcc_prior"] == pytest.approx(0.0, abs=1e-12)
    assert a[3]["mcc_prior"] > b[3]["mcc_prior"]


def test_rows_at_the_same_instant_do_not_see_each_other() -> None:
    values, _ = point_in_time_priors(rows([("5732", True)] * 3, same_time=True), ["mcc"])  # type: ignore[arg-type]
    assert [v["mcc_prior"] for v in values] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)


def test_rows_out_of_order_are_refused() -> None:
    unordered = list(reversed(rows([("5411", False), ("5732", True)])))
    with pytest.raises(ValueError, match="time order"):
        point_in_time_priors(unordered, ["mcc"])  # type: ignore[arg-type]


def test_the_served_table_reads_unseen_values_as_average() -> None:
    table = CategoryPrior(category="mcc", smoothing=10.0, base_rate=0.1, counts={"5732": (5, 10)})
    assert table.value("9999") == pytest.approx(0.0, abs=1e-12)
    assert table.value(None) == pytest.approx(0.0, abs=1e-12)
    assert table.value("5732") == pytest.approx(logit((5 + 1) / 20) - logit(0.1))
    assert table.input_name == "mcc_prior"


@pytest.mark.parametrize(
    ("value", "fraud", "swipes"),
    [("5732", 5, 10), ("5411", 0, 300), ("7995", 40, 41), ("9999", 0, 0), (None, 0, 0), (5732, 5, 10)],
)
def test_a_looked_up_input_is_the_smoothed_rate_of_its_counts(value: object, fraud: int, swipes: int) -> None:
    table = CategoryPrior(
        category="mcc",
        smoothing=50.0,
        base_rate=0.02,
        counts={"5732": (5, 10), "5411": (0, 300), "7995": (40, 41)},
    )
    rate = (fraud + 50.0 * 0.02) / (swipes + 50.0)
    assert table.value(value) == logit(rate) - logit(0.02)
