"""The model: predict arithmetic, the artifact file, training, and leakage-free labeled examples."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from scoring.serving.model import ModelArtifact, input_names, model_inputs, publish_artifact
from scoring.serving.request_features import DecidedSwipe, LagCover, request_features
from scoring.training.fit import LabeledRow, labeled_examples, labeled_rows, same_deny_share, train_logistic
from scoring.training.gbm import GbmParams, train_gbm
from streaming.card_state import CardState, features, fold
from streaming.schema import Swipe
from tests.unit.scoring.builders import CFG, NEW_YORK, PARIS, T0, TOKEN, artifact


def test_predict_is_a_standardized_logistic_with_contributions() -> None:
    names = input_names(CFG)
    base = artifact({"velocity_600_count": 0.5, "new_country": 2.0}, intercept=-3.0)
    model = ModelArtifact.model_validate(
        base.model_dump() | {"means": [1.0] * len(names), "stds": [2.0] * len(names)}
    )
    inputs = dict.fromkeys(names, 1.0) | {"velocity_600_count": 9.0, "new_country": 3.0}
    score, contributions = model.predict(inputs)
    # 0.5 * (9 - 1) / 2 + 2.0 * (3 - 1) / 2 = 2 + 2
    assert contributions["velocity_600_count"] == pytest.approx(2.0)
    assert contributions["new_country"] == pytest.approx(2.0)
    assert score == pytest.approx(1 / (1 + math.exp(-(-3.0 + 4.0))))
    assert model.predict({})[0] == pytest.approx(1 / (1 + math.exp(3.0)))  # missing inputs sit at the mean
    assert model.predict({"velocity_600_count": -1e9})[0] == 0.0  # no overflow either way
    assert model.predict({"velocity_600_count": 1e9})[0] == 1.0


def test_artifact_round_trips_and_publishes_current(tmp_path: Path) -> None:
    model = artifact()
    current = publish_artifact(model, tmp_path / "models")
    assert current == tmp_path / "models" / "current.json"
    assert ModelArtifact.load(current) == model
    assert ModelArtifact.load(tmp_path / "models" / "test-1.json") == model


def test_artifact_rejects_inconsistent_vectors() -> None:
    with pytest.raises(ValueError, match="same length"):
        ModelArtifact.model_validate(artifact().model_dump() | {"means": [0.0]})


def synthetic_rows(n: int, seed: int) -> list[tuple[dict[str, float], bool]]:
    """Fraud shows up as higher short-term velocity and new countries, with overlap and noise."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        fraud = rng.random() < 0.1
        inputs = dict.fromkeys(input_names(CFG), 0.0)
        inputs["velocity_600_count"] = rng.gauss(5 if fraud else 1.5, 1.5)
        inputs["new_country"] = float(rng.random() < (0.6 if fraud else 0.1))
        inputs["amount_z"] = rng.gauss(1.0 if fraud else 0.0, 1.0)
        rows.append((inputs, fraud))
    return rows


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


def synthetic_labeled_rows(n: int, seed: int) -> list[LabeledRow]:
    """`synthetic_rows` with times and an MCC; fraud favours one category."""
    rng = random.Random(seed)
    out = []
    for i, (inputs, fraud) in enumerate(synthetic_rows(n, seed)):
        mcc = "5732" if rng.random() < (0.5 if fraud else 0.05) else "5411"
        out.append(LabeledRow(T0 + timedelta(seconds=i), inputs, {"mcc": mcc}, fraud))
    return out


def test_gbm_learns_deterministically_and_round_trips(tmp_path: Path) -> None:
    rows = synthetic_labeled_rows(3000, seed=11)
    model = train_gbm(rows, "gbm-1", config=CFG, params=GbmParams(trees=30), created_at=T0)
    assert model == train_gbm(rows, "gbm-1", config=CFG, params=GbmParams(trees=30), created_at=T0)
    assert model.kind == "gbm" and model.features[-1] == "mcc_prior"
    assert model.metrics.roc_auc is not None and model.metrics.roc_auc > 0.9
    assert model.metrics.n_train == 2250 and 0.0 < model.threshold < 1.0

    loaded = ModelArtifact.load(publish_artifact(model, tmp_path))
    assert loaded == model
    fraudish = dict.fromkeys(model.features, 0.0) | {"velocity_600_count": 8.0, "new_country": 1.0}
    usual = dict.fromkeys(model.features, 0.0) | {"velocity_600_count": 1.0}
    for inputs in (fraudish, usual):
        assert loaded.predict(inputs, {"mcc": "5732"}) == model.predict(inputs, {"mcc": "5732"})
    assert model.predict(fraudish, {"mcc": "5732"})[0] >= model.threshold > model.predict(usual)[0]
    # the category reaches the score through the learned prior
    assert model.predict(fraudish, {"mcc": "5732"})[0] > model.predict(fraudish, {"mcc": "5411"})[0]
    assert model.missing_inputs(set(input_names(CFG))) == []


def test_gbm_contributions_explain_the_score() -> None:
    model = train_gbm(synthetic_labeled_rows(2000, seed=5), "gbm-2", config=CFG, params=GbmParams(trees=20))
    assert model.trees is not None
    inputs = dict.fromkeys(model.features, 0.0) | {"velocity_600_count": 8.0}
    score, contributions = model.predict(inputs, {"mcc": "5411"})
    raw = model.trees.expected_raw + sum(contributions.values())
    assert score == pytest.approx(1 / (1 + math.exp(-raw)))
    assert max(contributions, key=lambda n: contributions[n]) == "velocity_600_count"


def test_a_gbm_artifact_needs_trees_that_fit_its_features() -> None:
    model = train_gbm(synthetic_labeled_rows(1000, seed=2), "gbm-3", config=CFG, params=GbmParams(trees=5))
    with pytest.raises(ValueError, match="needs its trees"):
        ModelArtifact.model_validate(model.model_dump() | {"trees": None})
    with pytest.raises(ValueError, match="only"):
        ModelArtifact.model_validate(model.model_dump() | {"features": model.features[:1], "priors": []})


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


def late_signal_rows(n: int, seed: int) -> list[LabeledRow]:
    """Fraud follows `new_country` only in the latest quarter: what a model fit before it cannot see."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        fraud = rng.random() < 0.1
        late = i >= 0.75 * n
        inputs = dict.fromkeys(input_names(CFG), 0.0)
        inputs["velocity_600_count"] = rng.gauss(4 if fraud else 1.5, 1.5)
        inputs["new_country"] = float(rng.random() < (0.9 if fraud and late else 0.1))
        rows.append(LabeledRow(T0 + timedelta(seconds=i), inputs, {"mcc": "5411"}, fraud))
    return rows


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
