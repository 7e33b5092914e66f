"""The artifact the scorer runs per request, and how it is published.

`scoring.serving.inputs.model_inputs` turns features into named floats (re-exported here).
`ModelArtifact.predict` runs in plain Python, so neither scikit-learn nor LightGBM runs at request
time: a logistic regression is a standardized dot product (a few microseconds), a boosted tree
ensemble (`scoring.serving.trees`) a walk down each tree. An artifact may also carry category fraud priors
(`scoring.serving.priors`), looked up from the request's category values. Training lives in
`scoring.training.fit`; `scoring.training.selection` fits both kinds and keeps the better.

Artifact path convention: `<state_dir>/models/<version>.json`, with `current.json` the one the
scorer serves (`publish_artifact` writes both; the scorer reloads `current.json` when it changes).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.serving.inputs import SWIPE_FIELDS, input_names, model_inputs
from scoring.serving.merchant_inputs import MERCHANT_PREFIX
from scoring.serving.priors import CategoryPrior
from scoring.serving.trees import TreeEnsemble

__all__ = ["ModelArtifact", "ModelMetrics", "input_names", "model_inputs", "publish_artifact"]


class ModelMetrics(BaseModel):
    """Validation-split quality of a trained model, at its operating threshold."""

    model_config = ConfigDict(frozen=True)

    roc_auc: float | None
    average_precision: float | None
    precision: float
    recall: float
    f1: float
    n_train: int
    n_validation: int
    positives_train: int
    positives_validation: int


class Candidate(BaseModel):
    """One model kind fitted in a selection, measured on the same out-of-time validation slice."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["logistic", "gbm"]
    average_precision: float | None
    roc_auc: float | None


class ModelSelection(BaseModel):
    """Which kinds were fitted and how each did; the artifact is the one with the best average precision."""

    model_config = ConfigDict(frozen=True)

    candidates: list[Candidate]

    def ranked(self) -> list[Candidate]:
        """Best average precision first (an unmeasured one last)."""
        return sorted(
            self.candidates, key=lambda c: -_UNMEASURED if (ap := c.average_precision) is None else -ap
        )

    def summary(self) -> str:
        """E.g. 'gbm won: validation AP 0.712 vs logistic 0.655 (+0.057)'."""
        best, *rest = self.ranked()
        if not rest:
            return f"{best.kind} (the only kind fitted): validation AP {_ap(best.average_precision)}"
        other = rest[0]
        margin = (best.average_precision or 0.0) - (other.average_precision or 0.0)
        return (
            f"{best.kind} won: validation AP {_ap(best.average_precision)} vs {other.kind} "
            f"{_ap(other.average_precision)} ({margin:+.3f})"
        )


_UNMEASURED = float("-inf")  # ranks last


def _ap(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


class ModelArtifact(BaseModel):
    """A trained model as JSON: a standardized logistic regression or a boosted tree ensemble.

    `features` are the model's inputs in order: names `model_inputs` produces, plus one
    `<category>_prior` per entry of `priors`, computed from the request's category values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1, max_length=64)
    kind: Literal["logistic", "gbm"] = "logistic"
    created_at: datetime
    features: list[str]
    # kind "logistic"
    means: list[float] = Field(default_factory=list)
    stds: list[float] = Field(default_factory=list)
    coefficients: list[float] = Field(default_factory=list)
    intercept: float = 0.0
    # kind "gbm"
    trees: TreeEnsemble | None = None
    priors: list[CategoryPrior] = Field(default_factory=list)
    threshold: float = Field(ge=0, le=1)
    horizons_s: list[int]
    # The optional swipe fields (serving.inputs.SWIPE_FIELDS) the inputs read; older artifacts read all.
    swipe_fields: list[str] = Field(default_factory=lambda: list(SWIPE_FIELDS))
    selection: ModelSelection | None = None
    training_window: tuple[datetime, datetime] | None = None
    metrics: ModelMetrics
    # The share of the validation slice's scores in each of scoring.serving.drift.SCORE_BINS bins: what the
    # scorer's live scores are held against (fraudstream_score_psi). None in older artifacts.
    score_shares: list[float] | None = None

    # Derived once per artifact. cached_property, not PrivateAttr: reading a pydantic private
    # attribute goes through BaseModel.__getattr__ (~2 µs), twice per scored swipe.
    @cached_property
    def reads_merchant(self) -> bool:
        """Whether the model reads merchant inputs (so the scorer looks the merchant up)."""
        return any(f.startswith(MERCHANT_PREFIX) for f in self.features)

    @cached_property
    def logistic_terms(self) -> tuple[tuple[str, float, float], ...]:
        """(name, mean, coefficient / std) per feature: standardization folded into one weight."""
        return tuple(
            (name, mean, coef / std)
            for name, mean, std, coef in zip(
                self.features, self.means, self.stds, self.coefficients, strict=True
            )
        )

    @cached_property
    def prior_slots(self) -> tuple[tuple[int, CategoryPrior], ...]:
        """(index in `features`, prior) per prior: where each prior's input goes in a row."""
        return tuple((self.features.index(p.input_name), p) for p in self.priors)

    @model_validator(mode="after")
    def _consistent(self) -> ModelArtifact:
        n = len(self.features)
        if len(set(self.features)) != n:
            raise ValueError("duplicate feature names")
        missing_priors = [p.input_name for p in self.priors if p.input_name not in self.features]
        if missing_priors:
            raise ValueError(f"priors {missing_priors} are not among the features")
        if self.kind == "gbm":
            if self.trees is None:
                raise ValueError("a gbm artifact needs its trees")
            used = max((node.feature for tree in self.trees.trees for node in tree), default=-1)
            if used >= n:
                raise ValueError(f"a tree splits on feature {used}, but there are only {n} features")
            return self
        if not (len(self.means) == len(self.stds) == len(self.coefficients) == n):
            raise ValueError("features, means, stds and coefficients must have the same length")
        if any(s <= 0 for s in self.stds):
            raise ValueError("standard deviations must be positive")
        return self

    def missing_fields(self, available: set[str]) -> list[str]:
        """The swipe fields this model reads that the scorer's swipes do not carry."""
        return [f for f in self.swipe_fields if f not in available]

    def missing_inputs(self, available: set[str]) -> list[str]:
        """The features this model needs that the scorer does not produce (a config mismatch)."""
        derived = {p.input_name for p in self.priors}
        return [f for f in self.features if f not in available and f not in derived]

    def predict(
        self, inputs: Mapping[str, float], categories: Mapping[str, object] | None = None
    ) -> tuple[float, dict[str, float]]:
        """Fraud score in [0, 1] and each feature's contribution to the log-odds.

        `categories` holds the request's category values (mcc, country, ...) the priors read; a
        missing one counts as never seen. Logistic contributions are against the mean card; tree
        contributions against the ensemble's mean output, credited along each tree's path.
        """
        categories = categories or {}
        if self.trees is not None:
            x = [inputs.get(name, 0.0) for name in self.features]
            for i, prior in self.prior_slots:  # the priors straight into the row, no merged copy
                x[i] = prior.value(categories.get(prior.category))
            moves = [0.0] * len(x)
            raw = self.trees.raw(x, moves)
            return self.trees.probability(raw), dict(zip(self.features, moves, strict=True))
        if self.priors:
            inputs = {**inputs, **{p.input_name: p.value(categories.get(p.category)) for p in self.priors}}
        contributions = {}
        z = self.intercept
        for name, mean, weight in self.logistic_terms:
            c = weight * (inputs.get(name, mean) - mean)
            contributions[name] = c
            z += c
        return _logistic(z), contributions

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def load(cls, path: Path) -> ModelArtifact:
        return cls.model_validate_json(path.read_bytes())


def _logistic(z: float) -> float:
    # Numerically safe: exp of a large positive number would overflow.
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def publish_artifact(artifact: ModelArtifact, models_dir: Path) -> Path:
    """Write `<models_dir>/<version>.json` and atomically point `current.json` at the same content."""
    models_dir.mkdir(parents=True, exist_ok=True)
    body = artifact.to_json()
    versioned = models_dir / f"{artifact.version}.json"
    _atomic_write(versioned, body)
    current = models_dir / "current.json"
    _atomic_write(current, body)
    return current


def _atomic_write(path: Path, text: str) -> None:
    # A reader polling the file must never see half an artifact: write aside, then rename.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
