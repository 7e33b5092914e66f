"""Fitting the logistic model: learning, the threshold, the refit, and leakage-free labeled examples."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from scoring.serving.model import ModelArtifact, input_names, model_inputs
from scoring.serving.request_features import DecidedSwipe, LagCover, request_features
from scoring.training.fit import labeled_examples, labeled_rows, same_deny_share, train_logistic
from scoring.training.gbm import GbmParams, train_gbm
from streaming.card_state import CardState, features, fold
from streaming.schema import Swipe
from tests.unit.scoring.builders import (
    CFG,
    NEW_YORK,
    PARIS,
    T0,
    TOKEN,
    late_signal_rows,
    synthetic_rows,
)


def test_training_learns_a_separable_signal_deterministically() -> None:
    rows = synthetic_rows(3000, seed=7)
    model = train_logistic(rows, "synthetic-1", config=CFG, created_at=T0)
    again = train_logistic(rows, "synthetic-1", config=CFG, created_at=T0)
    assert model == again
    assert model.metrics.roc_auc is not None and model.metrics.roc_auc > 0.9
    assert model.metrics.average_precision is not None and model.metrics.average_precision > 0.6
    assert model.metrics.n_train == 2250 and model.metrics.n_validation == 750
    assert 0.0 < model.threshold < 1.0
    coef = dict(zip(model.features, model.coefficients, strict=True))
    assert coef["velocity_600_count"] > 0 and coef["new_country"] > 0
    fraudish = dict.fromkeys(model.features, 0.0) | {"velocity_600_count": 8.0, "new_country": 1.0}
    usual = dict.fromkeys(model.features, 0.0) | {"velocity_600_count": 1.0}
    assert model.predict(fraudish)[0] >= model.threshold > model.predict(usual)[0]


def test_a_precision_target_raises_the_threshold() -> None:
    rows = synthetic_rows(3000, seed=7)
    best_f1 = train_logistic(rows, "a", config=CFG)
    precise = train_logistic(rows, "b", config=CFG, target_precision=0.95)
    assert precise.threshold >= best_f1.threshold
    assert precise.metrics.precision >= 0.95


def test_training_without_both_classes_says_what_to_do() -> None:
    rows = [(dict.fromkeys(input_names(CFG), 0.0), False)] * 100
    with pytest.raises(ValueError, match="need both fraud and legitimate"):
        train_logistic(rows, "x", config=CFG)


def card_swipes() -> list[Swipe]:
    """One card: a Paris habit, then a fast burst that ends in New York."""
    plan = [
        (0, 20.0, "FR", PARIS),
        (30, 25.0, "FR", PARIS),
        (60, 300.0, "DE", PARIS),
        (90, 18.0, "FR", PARIS),
    ]
    plan += [(120, 900.0, "US", NEW_YORK), (150, 40.0, "US", NEW_YORK)]
    return [
        Swipe(
            swipe_id=f"s{i}",
            card_token=TOKEN,
            amount=amount,
            currency="EUR",
            merchant_id=f"m{i % 3}",
            mcc="5411",
            country=country,
            lat=where[0],
            lon=where[1],
            event_time=T0 + timedelta(seconds=t),
        )
        for i, (t, amount, country, where) in enumerate(plan)
    ]


def test_labeled_examples_have_no_label_or_future_leakage() -> None:
    swipes = card_swipes()
    examples = list(labeled_examples([(s, i >= 4) for i, s in enumerate(swipes)], CFG))
    flipped = list(labeled_examples([(s, i < 4) for i, s in enumerate(swipes)], CFG))
    assert [x for x, _ in examples] == [x for x, _ in flipped]  # labels never enter the inputs
    assert [y for _, y in examples] == [False] * 4 + [True] * 2
    prefix = list(labeled_examples([(s, False) for s in swipes[:3]], CFG))
    assert [x for x, _ in prefix] == [x for x, _ in examples[:3]]  # later swipes change nothing earlier
    assert examples[0][0]["card_unknown"] == 1.0
    assert [x["velocity_600_count"] for x, _ in examples] == [1, 2, 3, 4, 5, 6]
    assert examples[4][0]["impossible_travel"] == 1.0
    # shuffled input is replayed in event-time order
    assert list(labeled_examples([(s, False) for s in reversed(swipes)], CFG))[2][0] == examples[2][0]


@pytest.mark.parametrize("stream_has", [0, 1, 2])
def test_training_inputs_match_what_the_lagging_scorer_sees(stream_has: int) -> None:
    # The stream folded only the first `stream_has` swipes; the scorer decides the rest itself,
    # covering the lag with its buffer. Its inputs must equal the training replay's.
    swipes = card_swipes()
    expected = [x for x, _ in labeled_examples([(s, False) for s in swipes], CFG)]
    state = fold(CardState(), swipes[:stream_has], CFG)
    stream = features(TOKEN, state, CFG, computed_at=T0) if stream_has else None
    cover = LagCover()
    for i, s in enumerate(swipes[stream_has:], start=stream_has):
        as_of = stream.as_of.timestamp() if stream else None
        rf = request_features(s, stream, cover.pending(TOKEN, as_of, CFG.retention_s), CFG)
        got = model_inputs(stream, rf)
        assert got == pytest.approx(expected[i], abs=1e-6), f"swipe {i}"
        cover.record(TOKEN, DecidedSwipe.of(s, denied=False, decided_at=0.0))


def test_labeled_rows_carry_the_categories_priors_read() -> None:
    swipes = card_swipes()
    rows = list(labeled_rows([(s, False) for s in swipes], CFG))
    assert [r.inputs for r in rows] == [x for x, _ in labeled_examples([(s, False) for s in swipes], CFG)]
    assert rows[0].categories == {"mcc": swipes[0].mcc, "country": swipes[0].country, "channel": "pos"}


@pytest.mark.parametrize(
    ("before", "threshold", "after", "expected"),
    [
        ([0.1, 0.5, 0.9], 0.5, [0.2, 0.3, 0.8], 0.3),  # two denied before: the second-highest after
        ([0.1, 0.5, 0.9], 0.95, [0.2, 0.3, 0.8], 0.95),  # none denied: the threshold stays
        ([0.6, 0.7], 0.5, [0.01, 0.02], 0.01),  # every row denied, whatever the new scale
    ],
)
def test_same_deny_share(before: list[float], threshold: float, after: list[float], expected: float) -> None:
    assert same_deny_share(np.array(before), threshold, np.array(after)) == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["logistic", "gbm"])
def test_a_refit_learns_from_the_validation_slice_and_keeps_its_deny_rate(kind: str) -> None:
    rows = late_signal_rows(4000, seed=3)

    def train(refit: bool) -> ModelArtifact:
        if kind == "gbm":
            return train_gbm(rows, "m", config=CFG, params=GbmParams(trees=30), created_at=T0, refit=refit)
        return train_logistic(
            [(r.inputs, r.is_fraud) for r in rows], "m", config=CFG, created_at=T0, refit=refit
        )

    early, refit = train(False), train(True)
    assert refit.metrics == early.metrics  # measured out of time, on the fit before the slice
    val = rows[3000:]
    new_country = dict.fromkeys(input_names(CFG), 0.0) | {"velocity_600_count": 1.5, "new_country": 1.0}
    plain = new_country | {"new_country": 0.0}
    gain = [
        m.predict(new_country, {"mcc": "5411"})[0] - m.predict(plain, {"mcc": "5411"})[0]
        for m in (early, refit)
    ]
    assert gain[1] > gain[0] + 0.01  # only the refit model saw new_country mean fraud
    denied = [sum(m.predict(r.inputs, r.categories)[0] >= m.threshold for r in val) for m in (early, refit)]
    # the same count, but for rows tied at the new threshold (trees score in steps)
    assert denied[0] <= denied[1] <= 1.1 * denied[0]
