"""The model's input vector and the artifact the scorer runs per request.

`model_inputs` turns features into named floats. `ModelArtifact.predict` runs in plain Python, so
neither scikit-learn nor LightGBM runs at request time: a logistic regression is a standardized dot
product (a few microseconds), a boosted tree ensemble (`scoring.trees`) a walk down each tree. An
artifact may also carry category fraud priors (`scoring.priors`), looked up from the request's
category values. Training lives in `scoring.training`.

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

from scoring.merchant_inputs import MERCHANT_PREFIX, merchant_input_names
from scoring.priors import CategoryPrior
from scoring.request_features import RequestFeatures
from scoring.trees import TreeEnsemble
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig
from streaming.schema import CardFeatures


def input_names(config: FeatureConfig, merchant: MerchantConfig | None = None) -> list[str]:
    """Every name `model_inputs` produces under `config`, in a stable order.

    With `merchant`, the merchant inputs of `scoring.merchant_inputs` follow (models trained with
    them need the scorer's merchant table).
    """
    names = ["amount_log", "amount_z"]
    for h in config.horizons_s:
        names += [f"velocity_{h}_count", f"velocity_{h}_amount_log", f"velocity_{h}_denied"]
    return [
        *names,
        "since_last_log",
        "last_unknown",
        "distance_km_log",
        "travel_kmh_log",
        "location_unknown",
        "impossible_travel",
        "home_distance_km_log",
        "home_spread_km_log",
        "home_unknown",
        "place_distance_km_log",
        "new_country",
        "new_merchant",
        "new_mcc",
        "hour_share",
        "channel_ecom",
        "channel_atm",
        "channel_rarity",
        "history_log",
        "card_unknown",
        *(merchant_input_names(merchant) if merchant is not None else []),
    ]


def model_inputs(features: CardFeatures | None, rf: RequestFeatures) -> dict[str, float]:
    """The named model inputs. Unknown quantities are 0 plus an `*_unknown` indicator.

    Everything comes from `rf`, which already merged `features` (the card's streamed features, None
    when missing or set aside as stale) with the lag cover; `features` is taken for the signature's
    sake and for inputs that may only exist in the stream later.
    """
    out: dict[str, float] = {"amount_log": math.log1p(rf.amount), "amount_z": rf.amount_z}
    for w in rf.windows:
        out[f"velocity_{w.horizon_s}_count"] = float(w.count)
        out[f"velocity_{w.horizon_s}_amount_log"] = math.log1p(w.amount_sum)
        out[f"velocity_{w.horizon_s}_denied"] = float(w.denied)
    if rf.ecom_share is None:
        rarity = 0.0
    else:
        rarity = 1.0 - (rf.ecom_share if rf.channel == "ecom" else 1.0 - rf.ecom_share)
    out.update(
        since_last_log=_log1p_or_zero(rf.seconds_since_last),
        last_unknown=float(rf.seconds_since_last is None),
        distance_km_log=_log1p_or_zero(rf.distance_km),
        travel_kmh_log=_log1p_or_zero(rf.travel_kmh),
        location_unknown=float(rf.distance_km is None),
        impossible_travel=float(rf.impossible_travel),
        home_distance_km_log=_log1p_or_zero(rf.home_distance_km),
        home_spread_km_log=_log1p_or_zero(rf.home_spread_km),
        home_unknown=float(rf.home_distance_km is None),
        place_distance_km_log=_log1p_or_zero(rf.place_distance_km),
        new_country=float(rf.new_country),
        new_merchant=float(rf.new_merchant),
        new_mcc=float(rf.new_mcc),
        hour_share=rf.hour_share,
        channel_ecom=float(rf.channel == "ecom"),
        channel_atm=float(rf.channel == "atm"),
        channel_rarity=rarity,
        history_log=math.log1p(rf.history_swipes),
        # Not "features is None": a new card whose earlier swipes sit in the lag cover is known, just
        # as training (a complete stream) knows it.
        card_unknown=float(rf.history_swipes == 0),
    )
    return out


def _log1p_or_zero(value: float | None) -> float:
    return math.log1p(value) if value is not None else 0.0


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
    training_window: tuple[datetime, datetime] | None = None
    metrics: ModelMetrics

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
        if self.priors:
            categories = categories or {}
            inputs = {**inputs, **{p.input_name: p.value(categories.get(p.category)) for p in self.priors}}
        if self.trees is not None:
            x = [inputs.get(name, 0.0) for name in self.features]
            moves = [0.0] * len(x)
            raw = self.trees.raw(x, moves)
            return self.trees.probability(raw), dict(zip(self.features, moves, strict=True))
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
