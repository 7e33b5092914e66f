"""Model selection on time: both kinds fitted on the same rows, the better validation AP kept and reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from scoring.serving.model import Candidate, ModelSelection
from scoring.training.fit import LabeledRow, split_index
from scoring.training.selection import fit_and_select, parse_kind, with_gap
from streaming.card_state import FeatureConfig

CONFIG = FeatureConfig(horizons_s=(600,))
T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("candidates", "summary"),
    [
        ([("logistic", 0.61), ("gbm", 0.70)], "gbm won: validation AP 0.700 vs logistic 0.610 (+0.090)"),
        ([("logistic", 0.50), ("gbm", 0.42)], "logistic won: validation AP 0.500 vs gbm 0.420 (+0.080)"),
        ([("logistic", 0.50), ("gbm", 0.50)], "logistic won: validation AP 0.500 vs gbm 0.500 (+0.000)"),
        ([("logistic", None), ("gbm", 0.3)], "gbm won: validation AP 0.300 vs logistic - (+0.300)"),
        ([("gbm", 0.3)], "gbm (the only kind fitted): validation AP 0.300"),
    ],
)
def test_the_summary_names_the_winner_and_its_margin(
    candidates: list[tuple[str, float | None]], summary: str
) -> None:
    selection = ModelSelection(
        candidates=[Candidate(kind=k, average_precision=ap, roc_auc=None) for k, ap in candidates]  # type: ignore[arg-type]
    )
    assert selection.summary() == summary


def _xor_rows(n: int, seed: int) -> list[LabeledRow]:
    """Fraud when exactly one of two inputs is high: trees see it, a linear model cannot."""
    rng = np.random.default_rng(seed)
    a, b = rng.random(n), rng.random(n)
    fraud = ((a > 0.5) ^ (b > 0.5)) & (rng.random(n) < 0.3)
    return [
        LabeledRow(
            T0 + timedelta(minutes=i), {"amount_log": 5 * a[i], "hour_share": b[i]}, {}, bool(fraud[i])
        )
        for i in range(n)
    ]


def test_auto_fits_both_and_keeps_the_better_validation_ap() -> None:
    rows = _xor_rows(3000, 1)
    picked = fit_and_select(rows, "auto", lambda k: f"t-{k}", config=CONFIG, fields=(), seed=0)
    assert set(picked.fitted) == {"logistic", "gbm"}
    ap = {k: a.metrics.average_precision or 0.0 for k, a in picked.fitted.items()}
    assert ap["gbm"] > ap["logistic"] + 0.1  # the interaction is real, and the trees find it
    assert picked.chosen.kind == "gbm" and picked.chosen.version == "t-gbm"
    assert picked.chosen.selection is not None
    assert {c.kind: c.average_precision for c in picked.chosen.selection.candidates} == ap
    assert picked.chosen.selection.summary().startswith("gbm won")
    # both were measured on the same latest rows
    assert picked.fitted["gbm"].metrics.n_validation == picked.fitted["logistic"].metrics.n_validation


def test_one_kind_fits_that_kind_only() -> None:
    picked = fit_and_select(_xor_rows(1000, 2), "logistic", lambda k: k, config=CONFIG, fields=())
    assert list(picked.fitted) == ["logistic"] and picked.chosen.kind == "logistic"


def test_an_unknown_kind_says_which_are_known() -> None:
    with pytest.raises(ValueError, match=r"auto .* logistic or gbm, not 'forest'"):
        parse_kind("forest")


@pytest.mark.parametrize(
    ("delay_min", "fit_rows"),
    [
        # 100 rows a minute apart, validation = the last 25 (minutes 75..99)
        (0, 75),
        (10, 65),  # minutes 65..74 are within 10 min before minute 75: left out
        (74, 1),
    ],
)
def test_the_fit_rows_end_the_label_delay_before_the_validation_slice(delay_min: int, fit_rows: int) -> None:
    rows = _xor_rows(100, 3)
    kept, fraction = with_gap(rows, 0.25, timedelta(minutes=delay_min))
    split = split_index(len(kept), fraction)
    assert kept[split:] == rows[75:]  # the same validation slice, whatever the delay
    assert kept[:split] == rows[:fit_rows]


def test_a_label_delay_longer_than_the_fit_rows_says_what_to_change() -> None:
    with pytest.raises(ValueError, match=r"leaves no row to fit .* shorten the delay"):
        with_gap(_xor_rows(100, 3), 0.25, timedelta(minutes=75))


def test_selection_with_a_label_delay_fits_on_the_settled_rows_only() -> None:
    rows = _xor_rows(2000, 4)
    picked = fit_and_select(
        rows, "auto", lambda k: k, config=CONFIG, fields=(), label_delay=timedelta(minutes=100)
    )
    for artifact in picked.fitted.values():
        assert artifact.metrics.n_validation == 500 and artifact.metrics.n_train == 1400


def test_the_kept_model_carries_its_validation_slices_score_distribution() -> None:
    from scoring.serving.drift import SCORE_BINS, score_shares

    rows = _xor_rows(1000, 5)
    picked = fit_and_select(rows, "logistic", lambda k: k, config=CONFIG, fields=())
    chosen = picked.chosen
    validation = rows[split_index(len(rows), 0.25) :]
    expected = score_shares(chosen.predict(r.inputs, r.categories)[0] for r in validation)
    assert chosen.score_shares == expected
    assert len(expected) == SCORE_BINS and sum(expected) == pytest.approx(1.0)
    assert picked.fitted["logistic"].score_shares is None  # only the kept artifact is measured
