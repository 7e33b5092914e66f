"""Training: replay labeled swipes exactly as the scorer sees them, fit a model, pick its threshold.

Nothing here knows how traffic was generated; the model and its threshold come from the data. Two
kinds: a logistic regression (`train_logistic`) and gradient-boosted trees with category fraud
priors (`train_gbm`, in `scoring.training.gbm`). Both hold out the latest swipes as an out-of-time
validation split, on which the deny threshold is chosen and the metrics are measured.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from scoring.serving.inputs import SWIPE_FIELDS, check_fields, input_names, model_inputs
from scoring.serving.model import ModelArtifact, ModelMetrics
from scoring.serving.request_features import RequestFeatures, request_features
from streaming.card_state import CardState, FeatureConfig, features, fold
from streaming.merchant_state import MerchantConfig
from streaming.schema import CardFeatures, Swipe


@dataclass(frozen=True)
class LabeledRow:
    """One swipe as the scorer saw it: numeric inputs, the category values priors read, the label."""

    t: datetime
    inputs: dict[str, float]
    categories: Mapping[str, str]
    is_fraud: bool


def labeled_rows(
    swipes_with_labels: Iterable[tuple[Swipe, bool]],
    config: FeatureConfig,
    merchant: Mapping[str, Mapping[str, float]] | None = None,
) -> Iterator[LabeledRow]:
    """One row per swipe, in event-time order, with no label or future leakage.

    Each swipe is scored against its card's features folded from the card's earlier swipes only
    (what a complete stream plus the lag cover gives the scorer), then folded in. Labels never
    enter the card features. Swipes with equal event times keep their input order. `merchant`
    maps swipe ids to their merchant inputs (`scoring.serving.merchant_inputs.merchant_inputs_by_swipe`,
    which uses labels only from their arrival on).
    """
    ordered = sorted(swipes_with_labels, key=lambda pair: pair[0].event_time)
    states: dict[str, CardState] = {}
    for swipe, is_fraud in ordered:
        state = states.get(swipe.card_token)
        card, rf = as_scored(state, swipe, config)
        inputs = model_inputs(card, rf)
        if merchant is not None:
            inputs.update(merchant[swipe.swipe_id])
        yield LabeledRow(swipe.event_time, inputs, categories_of(swipe), is_fraud)
        states[swipe.card_token] = fold(state or CardState(), [swipe], config)


def as_scored(
    state: CardState | None, swipe: Swipe, config: FeatureConfig
) -> tuple[CardFeatures | None, RequestFeatures]:
    """The card's features from its earlier swipes (`state`) and the request-time features of `swipe`.

    What a complete stream plus the lag cover gives the scorer; every offline replay (training,
    backtest, the story) goes through it before folding the swipe in.
    """
    card = None
    if state is not None and state.tiles:
        card = features(swipe.card_token, state, config, computed_at=swipe.event_time)
    return card, request_features(swipe, card, (), config)


def categories_of(swipe: Swipe) -> dict[str, str]:
    """The category values the model's priors read."""
    return {"mcc": swipe.mcc, "country": swipe.country, "channel": swipe.channel}


def labeled_examples(
    swipes_with_labels: Iterable[tuple[Swipe, bool]], config: FeatureConfig
) -> Iterator[tuple[dict[str, float], bool]]:
    """(model inputs, is_fraud) per swipe: `labeled_rows` without the categories."""
    for row in labeled_rows(swipes_with_labels, config):
        yield row.inputs, row.is_fraud


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    metrics: ModelMetrics


def operating_point(
    y_train: np.ndarray, y_val: np.ndarray, val_scores: np.ndarray, target_precision: float | None
) -> OperatingPoint:
    """The deny threshold on the validation split and the metrics there.

    The threshold maximizes F1, or is the lowest reaching `target_precision` (most recall at that
    precision); without both classes in validation it stays at 0.5.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    threshold, auc, ap = 0.5, None, None
    if y_val.any() and not y_val.all():
        auc = float(roc_auc_score(y_val, val_scores))
        ap = float(average_precision_score(y_val, val_scores))
        precision, recall, thresholds = precision_recall_curve(y_val, val_scores)
        precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
        if target_precision is not None and (precision >= target_precision).any():
            threshold = float(thresholds[np.argmax(precision >= target_precision)])
        else:
            f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
            threshold = float(thresholds[int(np.argmax(f1))])
    predicted = val_scores >= threshold
    tp = int((predicted & y_val).sum())
    p = tp / max(int(predicted.sum()), 1)
    r = tp / max(int(y_val.sum()), 1)
    return OperatingPoint(
        threshold,
        ModelMetrics(
            roc_auc=auc,
            average_precision=ap,
            precision=p,
            recall=r,
            f1=2 * p * r / (p + r) if p + r else 0.0,
            n_train=len(y_train),
            n_validation=len(y_val),
            positives_train=int(y_train.sum()),
            positives_validation=int(y_val.sum()),
        ),
    )


def same_deny_share(before: np.ndarray, threshold: float, after: np.ndarray) -> float:
    """The threshold at which scores `after` deny as many rows as `before` did at `threshold`.

    A model refit on every row, the validation slice included, scores that slice in-sample, so its
    own best threshold there would flatter it; it keeps the deny rate chosen out of time instead.
    """
    denied = int((before >= threshold).sum())
    if denied == 0 or not len(after):
        return threshold
    return float(np.sort(after)[::-1][denied - 1])


def split_index(n: int, validation_fraction: float) -> int:
    if not 0 < validation_fraction < 1:
        raise ValueError("validation_fraction must be strictly between 0 and 1")
    return int(n * (1 - validation_fraction))


def check_split(n: int, y_train: np.ndarray, y_val: np.ndarray) -> None:
    if len(y_val) == 0 or y_train.all() or not y_train.any():
        raise ValueError(
            f"need both fraud and legitimate swipes in the training split and a non-empty validation "
            f"split; got {n} rows, {int(y_train.sum() + y_val.sum())} fraud. Generate or label more traffic."
        )


def train_logistic(
    rows: Iterable[tuple[dict[str, float], bool]],
    version: str,
    *,
    config: FeatureConfig | None = None,
    merchant: MerchantConfig | None = None,
    fields: Collection[str] = SWIPE_FIELDS,
    validation_fraction: float = 0.25,
    target_precision: float | None = None,
    regularization_c: float = 1.0,
    seed: int = 0,
    training_window: tuple[datetime, datetime] | None = None,
    created_at: datetime | None = None,
    refit: bool = False,
) -> ModelArtifact:
    """Fit a standardized logistic regression and choose its deny threshold on a validation split.

    `rows` come in time order (as `labeled_examples` yields them); the last `validation_fraction`
    of them is the validation split, so the metrics are out-of-time. The threshold maximizes F1 on
    validation, or is the lowest reaching `target_precision` (most recall at that precision). Only
    the inputs the swipe `fields` feed are used (`scoring.serving.inputs`). With `refit`, the model that is
    returned is then fit again on every row, the latest included (the ones nearest to what it will
    score), keeping the metrics measured out of time and the deny rate chosen there
    (`same_deny_share`).
    """
    from sklearn.linear_model import LogisticRegression

    config = config or FeatureConfig()
    fields = check_fields(fields)
    names = input_names(config, merchant, fields)
    table = list(rows)
    split = split_index(len(table), validation_fraction)
    x = np.array([[inputs.get(n, 0.0) for n in names] for inputs, _ in table], dtype=np.float64)
    y = np.array([bool(label) for _, label in table], dtype=bool)
    x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
    check_split(len(table), y_train, y_val)

    def fit(x_fit: np.ndarray, y_fit: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        means = x_fit.mean(axis=0)
        stds = x_fit.std(axis=0)
        stds[stds == 0] = 1.0  # a constant feature carries no signal; keep it harmless
        clf = LogisticRegression(C=regularization_c, max_iter=2000, random_state=seed)
        clf.fit((x_fit - means) / stds, y_fit)
        return means, stds, clf

    means, stds, clf = fit(x_train, y_train)
    val_scores = clf.predict_proba((x_val - means) / stds)[:, 1]
    point = operating_point(y_train, y_val, val_scores, target_precision)
    threshold = point.threshold
    if refit:
        means, stds, clf = fit(x, y)
        threshold = same_deny_share(val_scores, threshold, clf.predict_proba((x_val - means) / stds)[:, 1])
    return ModelArtifact(
        version=version,
        kind="logistic",
        created_at=created_at or datetime.now(UTC),
        features=names,
        means=[float(v) for v in means],
        stds=[float(v) for v in stds],
        coefficients=[float(v) for v in clf.coef_[0]],
        intercept=float(clf.intercept_[0]),
        threshold=threshold,
        horizons_s=list(config.horizons_s),
        swipe_fields=list(fields),
        training_window=training_window,
        metrics=point.metrics,
    )
