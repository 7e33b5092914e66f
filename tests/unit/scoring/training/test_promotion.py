"""Gated promotion's rule as a table, and the figures it reads off a scored window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scoring.training.fit import LabeledRow
from scoring.training.promotion import Gate, ModelFigures, figures, verdict
from tests.unit.scoring.builders import T0, artifact


def fig(ap: float | None, deny_rate: float, version: str = "m") -> ModelFigures:
    return ModelFigures(version, ap, deny_rate, 0.5)


@pytest.mark.parametrize(
    ("candidate", "champion", "gate", "promote", "says"),
    [
        (fig(0.50, 0.01), None, Gate(), True, "no serving model"),
        (fig(0.70, 0.010), fig(0.60, 0.010), Gate(), True, "+0.1000"),
        # AP not worse by more than the margin: promoted; by more: refused
        (fig(0.595, 0.010), fig(0.60, 0.010), Gate(ap_margin=0.01), True, "-0.0050"),
        (fig(0.585, 0.010), fig(0.60, 0.010), Gate(ap_margin=0.01), False, "more than the margin"),
        (fig(0.599, 0.010), fig(0.60, 0.010), Gate(ap_margin=0.0), False, "0.0010 below"),
        (fig(0.600, 0.010), fig(0.60, 0.010), Gate(ap_margin=0.0), True, "+0.0000"),
        # better AP, but the deny rate moves too far, either way
        (fig(0.90, 0.040), fig(0.60, 0.010), Gate(deny_rate_bound=0.02), False, "+0.0300"),
        (fig(0.90, 0.001), fig(0.60, 0.030), Gate(deny_rate_bound=0.02), False, "-0.0290"),
        (fig(0.90, 0.025), fig(0.60, 0.010), Gate(deny_rate_bound=0.02), True, "bound 0.02"),
        # no AP measured (no fraud label in the window): nothing is promoted
        (fig(None, 0.0), fig(None, 0.0), Gate(), False, "no AP"),
    ],
    ids=[
        "first",
        "better",
        "within-margin",
        "beyond-margin",
        "zero-margin-worse",
        "zero-margin-equal",
        "denies-more",
        "denies-less",
        "within-bound",
        "unmeasured",
    ],
)
def test_verdict(
    candidate: ModelFigures, champion: ModelFigures | None, gate: Gate, promote: bool, says: str
) -> None:
    v = verdict(candidate, champion, gate)
    assert v.promote is promote
    assert says in v.reason


@pytest.mark.parametrize("bad", [{"ap_margin": -0.1}, {"deny_rate_bound": 1.5}])
def test_a_gate_outside_zero_to_one_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be in"):
        Gate(**bad)


def test_figures_score_each_row_with_the_models_own_threshold() -> None:
    # score = sigmoid(velocity_600_count - 4): 5 and 6 swipes score >= 0.5, the rest below
    model = artifact({"velocity_600_count": 1.0}, threshold=0.5)
    counts_fraud = [(1, False), (2, False), (3, True), (5, True), (6, False)]
    rows = [
        LabeledRow(T0 + timedelta(minutes=i), {"velocity_600_count": float(n)}, {}, fraud)
        for i, (n, fraud) in enumerate(counts_fraud)
    ]
    f = figures(model, rows)
    assert f.version == "test-1" and f.threshold == 0.5
    assert f.deny_rate == 2 / 5
    # ranking 6 (legit), 5 (fraud), 3 (fraud), 2, 1: precision 1/2 at the first fraud, 2/3 at the second
    assert f.average_precision == pytest.approx((1 / 2 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="no swipe in the backtest window"):
        figures(model, [])
