"""Gradient-boosted trees with category fraud priors, exported to the pure-Python `scoring.serving.trees`.

LightGBM runs here, at training time only. The rows are split by time: the earlier part fits the
trees (with priors computed point in time from its own labels), the later part picks the deny
threshold and gives the metrics, with the priors of the whole earlier part, as serving would.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from scoring.serving.inputs import SWIPE_FIELDS, check_fields, input_names
from scoring.serving.model import ModelArtifact, ModelMetrics
from scoring.serving.priors import point_in_time_priors
from scoring.serving.trees import from_lightgbm
from scoring.training.fit import LabeledRow, check_split, operating_point, same_deny_share, split_index
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig


@dataclass(frozen=True)
class GbmParams:
    """LightGBM's knobs. Small, shallow trees: the request-time walk costs one step per level."""

    trees: int = 120
    leaves: int = 15
    learning_rate: float = 0.08
    min_child_samples: int = 20
    subsample: float = 0.8
    colsample: float = 0.8
    l2: float = 1.0
    # Inputs whose growth may only raise the score: domain knowledge that keeps sparse corners of the
    # data (a small purchase far from home, say) from learning a dip that is only noise.
    monotone_increasing: tuple[str, ...] = ()


def _classifier(params: GbmParams, names: list[str], seed: int) -> Any:
    """LightGBM's classifier for `params`, deterministic for `seed`, on the inputs `names`."""
    import lightgbm as lgb

    return lgb.LGBMClassifier(
        n_estimators=params.trees,
        num_leaves=params.leaves,
        learning_rate=params.learning_rate,
        min_child_samples=params.min_child_samples,
        subsample=params.subsample,
        subsample_freq=1,
        colsample_bytree=params.colsample,
        reg_lambda=params.l2,
        monotone_constraints=[int(n in params.monotone_increasing) for n in names],
        monotone_constraints_method="advanced",
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=1,
        verbose=-1,
    )


@dataclass(frozen=True)
class _TreeFit:
    """One `train_gbm` call's fit: the same inputs, priors and stamp, whichever rows it is given."""

    version: str
    config: FeatureConfig
    merchant: MerchantConfig | None
    fields: tuple[str, ...]
    prior_categories: list[str]
    prior_smoothing: float
    params: GbmParams
    seed: int
    training_window: tuple[datetime, datetime] | None
    created_at: datetime | None
    metrics: ModelMetrics  # placeholders: `train_gbm` sets those of the chosen threshold

    def __call__(self, fit_rows: Sequence[LabeledRow], y_fit: np.ndarray) -> ModelArtifact:
        """Trees grown on `fit_rows`, with priors computed point in time from their own labels."""
        priors, tables = point_in_time_priors(
            [(r.t, r.categories, r.is_fraud) for r in fit_rows],
            self.prior_categories,
            smoothing=self.prior_smoothing,
        )
        names = input_names(self.config, self.merchant, self.fields) + [t.input_name for t in tables]
        x_fit = np.array(
            [[{**r.inputs, **p}.get(n, 0.0) for n in names] for r, p in zip(fit_rows, priors, strict=True)],
            dtype=np.float64,
        )
        clf = _classifier(self.params, names, self.seed)
        clf.fit(x_fit, y_fit)
        return ModelArtifact(
            version=self.version,
            kind="gbm",
            created_at=self.created_at or datetime.now(UTC),
            features=names,
            trees=from_lightgbm(clf.booster_.dump_model()),
            priors=tables,
            threshold=0.5,
            horizons_s=list(self.config.horizons_s),
            swipe_fields=list(self.fields),
            training_window=self.training_window,
            metrics=self.metrics,
        )


def train_gbm(
    rows: Sequence[LabeledRow],
    version: str,
    *,
    config: FeatureConfig | None = None,
    merchant: MerchantConfig | None = None,
    fields: Collection[str] = SWIPE_FIELDS,
    prior_categories: Sequence[str] = ("mcc",),
    prior_smoothing: float = 50.0,
    params: GbmParams = GbmParams(),
    validation_fraction: float = 0.25,
    target_precision: float | None = None,
    seed: int = 0,
    training_window: tuple[datetime, datetime] | None = None,
    created_at: datetime | None = None,
    refit: bool = False,
) -> ModelArtifact:
    """Fit boosted trees on the earlier rows and choose the threshold on the later ones.

    With `refit`, the trees that are returned are grown again on every row, priors included, as
    `scoring.training.fit.train_logistic` does, at the deny rate chosen out of time.

    `rows` come in time order (as `scoring.training.fit.labeled_rows` yields them). Only the inputs the
    swipe `fields` feed are used, and only the priors of categories among them.
    """
    config = config or FeatureConfig()
    fields = check_fields(fields)
    split = split_index(len(rows), validation_fraction)
    train, val = rows[:split], rows[split:]
    y_train = np.array([r.is_fraud for r in train], dtype=bool)
    y_val = np.array([r.is_fraud for r in val], dtype=bool)
    check_split(len(rows), y_train, y_val)
    fit = _TreeFit(
        version,
        config,
        merchant,
        fields,
        [c for c in prior_categories if c in fields],
        prior_smoothing,
        params,
        seed,
        training_window,
        created_at,
        operating_point(y_train, y_val, np.array([0.0] * len(y_val)), None).metrics,
    )

    def scores(artifact: ModelArtifact) -> np.ndarray:
        return np.array([artifact.predict(r.inputs, r.categories)[0] for r in val])

    artifact = fit(train, y_train)
    # Validation through the artifact itself: what is measured is exactly what will serve.
    val_scores = scores(artifact)
    point = operating_point(y_train, y_val, val_scores, target_precision)
    threshold = point.threshold
    if refit:
        artifact = fit(rows, np.concatenate([y_train, y_val]))
        threshold = same_deny_share(val_scores, threshold, scores(artifact))
    return artifact.model_copy(update={"threshold": threshold, "metrics": point.metrics})
