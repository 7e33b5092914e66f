"""The backtest's models: `fraudstream train`'s kinds, the amount-only baseline, scoring via `predict`."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from scoring.serving.model import ModelArtifact
from scoring.training.fit import LabeledRow, operating_point, split_index
from scoring.training.selection import ModelKind, Selection, fit_and_select
from services.backtest.features import VERDICT_APPROVE, VERDICT_DENY, FeatureTable
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig

__all__ = ["ModelKind", "decisions", "score_rows", "train_amount_baseline", "train_model"]


def train_model(
    table: FeatureTable,
    known: np.ndarray,
    names: list[str],
    kind: ModelKind,
    window: tuple[datetime, datetime],
    seed: int,
    config: FeatureConfig,
    merchant: MerchantConfig | None,
    fields: Collection[str],
    label_delay: timedelta = timedelta(0),
) -> Selection:
    """`fraudstream train`'s model of `kind` ("auto": both, the better kept), fit on `table` (the
    train rows, columns `names`) with labels `known`, on the inputs the swipe `fields` feed.

    Rows come in time order; the trainers hold out their latest quarter to choose the threshold
    and, for "auto", the kind; the fit rows end `label_delay` before it (`scoring.training.selection`).
    """
    inputs = (dict(zip(names, x, strict=True)) for x in table.x.tolist())
    rows = [
        LabeledRow(datetime.fromtimestamp(t, UTC), i, c, bool(y))
        for t, i, c, y in zip(table.t.tolist(), inputs, table.categories, known.tolist(), strict=True)
    ]
    return fit_and_select(
        rows,
        kind,
        lambda k: f"backtest-{k}-{window[1]:%Y%m%d}-s{seed}",
        config=config,
        merchant=merchant,
        fields=fields,
        seed=seed,
        label_delay=label_delay,
        training_window=window,
        created_at=window[1],
    )


def score_rows(
    artifact: ModelArtifact,
    table: FeatureTable,
    names: list[str],
    progress: Callable[[int], None] = lambda _: None,
    every: int = 50_000,
) -> np.ndarray:
    """Each row's score from the artifact's `predict`, the scorer's own call; `progress` gets rows done."""
    scores = np.zeros(len(table))
    for i, (x, c) in enumerate(zip(table.x.tolist(), table.categories, strict=True)):
        scores[i] = artifact.predict(dict(zip(names, x, strict=True)), c)[0]
        if (i + 1) % every == 0:
            progress(i + 1)
    progress(len(table))
    return scores


def decisions(verdict: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """`decision.decide`'s order: a deny rule, else an approve rule, else the model's threshold."""
    deny = (verdict == VERDICT_DENY) | ((verdict != VERDICT_APPROVE) & (scores >= threshold))
    return np.where(deny, "deny", "approve")


@dataclass(frozen=True)
class AmountBaseline:
    """A logistic regression on log(1 + amount) alone, split and thresholded as the model is."""

    mean: float
    std: float
    coefficient: float
    intercept: float
    threshold: float

    def scores(self, amount_log: np.ndarray) -> np.ndarray:
        z = self.intercept + self.coefficient * (amount_log - self.mean) / self.std
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


def train_amount_baseline(amount_log: np.ndarray, y: np.ndarray, seed: int) -> AmountBaseline:
    from sklearn.linear_model import LogisticRegression

    split = split_index(len(y), 0.25)
    mean, std = float(amount_log[:split].mean()), float(amount_log[:split].std() or 1.0)
    clf = LogisticRegression(max_iter=2000, random_state=seed)
    clf.fit(((amount_log[:split] - mean) / std).reshape(-1, 1), y[:split])
    fitted = AmountBaseline(mean, std, float(clf.coef_[0][0]), float(clf.intercept_[0]), 0.5)
    point = operating_point(y[:split], y[split:], fitted.scores(amount_log[split:]), None)
    return AmountBaseline(mean, std, fitted.coefficient, fitted.intercept, point.threshold)
