"""Builders for scorer tests: swipes, card features, card tiles and a small model artifact."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from scoring.serving.model import ModelArtifact, ModelMetrics, input_names
from scoring.training.fit import LabeledRow
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig
from streaming.schema import (
    CardFeatures,
    CardProfile,
    SessionFeatures,
    Swipe,
    SwipeDetails,
    WindowFeatures,
    to_kafka,
)
from streaming.tiles import GRAINS_S, tiles_of

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TOKEN = "ct_" + "ab" * 16
CFG = FeatureConfig(horizons_s=(600, 3600), session_gap_s=1800)
PARIS = (48.8566, 2.3522)
NEW_YORK = (40.7128, -74.0060)


def swipe(
    i: int = 1,
    seconds: float = 0.0,
    amount: float = 20.0,
    country: str = "FR",
    where: tuple[float, float] | None = PARIS,
    merchant: str = "m1",
    mcc: str = "5411",
    **kw: Any,
) -> SwipeDetails:
    return SwipeDetails(
        swipe_id=f"s{i}",
        amount=amount,
        currency="EUR",
        merchant_id=merchant,
        mcc=mcc,
        country=country,
        lat=where[0] if where else None,
        lon=where[1] if where else None,
        event_time=T0 + timedelta(seconds=seconds),
        **kw,
    )


def card_swipes(
    token: str, seconds: list[float], amount: float = 20.0, where: tuple[float, float] | None = PARIS
) -> list[Swipe]:
    """Swipes `s0`, `s1`, ... of one card at T0 + seconds, as they travel on `swipes`."""
    return [
        Swipe(**swipe(i, t, amount, where=where).model_dump(), card_token=token)
        for i, t in enumerate(seconds)
    ]


def tile_messages(
    token: str,
    seconds: list[float],
    amount: float = 20.0,
    where: tuple[float, float] | None = PARIS,
    grains: tuple[int, ...] = GRAINS_S,
) -> list[tuple[bytes, bytes]]:
    """The (key, value) records the feature job would put on card-tiles for swipes at T0 + seconds."""
    records = [t.record(token) for t in tiles_of(card_swipes(token, seconds, amount, where), grains).values()]
    return [(r.key.encode(), to_kafka(r)) for r in records]


def card_features(
    as_of_s: float = 0.0,
    windows: dict[int, tuple[int, float, int]] | None = None,
    where: tuple[float, float] | None = PARIS,
    countries: tuple[str, ...] = ("FR",),
    merchants: tuple[str, ...] = ("m1",),
    mccs: tuple[str, ...] = ("5411",),
    swipes: int = 10,
    log_mean: float = 3.0,
    log_std: float = 0.5,
    hours: list[int] | None = None,
    computed_at_s: float | None = None,
    token: str = TOKEN,
) -> CardFeatures:
    """Card features as of T0 + as_of_s; windows map horizon -> (count, amount_sum, denied)."""
    windows = windows if windows is not None else {600: (1, 20.0, 0), 3600: (3, 60.0, 0)}
    as_of = T0 + timedelta(seconds=as_of_s)
    return CardFeatures(
        card_token=token,
        as_of=as_of,
        computed_at=T0 + timedelta(seconds=computed_at_s if computed_at_s is not None else as_of_s),
        last_swipe_id="s0",
        last_country=countries[-1],
        last_lat=where[0] if where else None,
        last_lon=where[1] if where else None,
        windows=[
            WindowFeatures(
                horizon_s=h,
                count=c,
                amount_sum=s,
                amount_max=s,
                amount_mean=s / max(c, 1),
                merchants=1,
                countries=1,
                denied=d,
            )
            for h, (c, s, d) in windows.items()
        ],
        session=SessionFeatures(start=as_of, swipes=1, amount=20.0, duration_s=0.0, merchants=1, countries=1),
        profile=CardProfile(
            swipes=swipes,
            log_amount_mean=log_mean,
            log_amount_std=log_std,
            ecom_share=0.0,
            hour_histogram=hours if hours is not None else [0] * 24,
            countries=list(countries),
            merchants=list(merchants),
            mccs=list(mccs),
        ),
    )


def artifact(
    weights: dict[str, float] | None = None,
    threshold: float = 0.5,
    intercept: float = -4.0,
    merchant: MerchantConfig | None = None,
) -> ModelArtifact:
    """A hand-made model: standardization is identity, so a weight is log-odds per unit of input."""
    names = input_names(CFG, merchant)
    weights = weights or {"velocity_600_count": 1.0}
    return ModelArtifact(
        version="test-1",
        created_at=T0,
        features=names,
        means=[0.0] * len(names),
        stds=[1.0] * len(names),
        coefficients=[weights.get(n, 0.0) for n in names],
        intercept=intercept,
        threshold=threshold,
        horizons_s=list(CFG.horizons_s),
        metrics=ModelMetrics(
            roc_auc=None,
            average_precision=None,
            precision=0,
            recall=0,
            f1=0,
            n_train=0,
            n_validation=0,
            positives_train=0,
            positives_validation=0,
        ),
    )


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


def synthetic_labeled_rows(n: int, seed: int) -> list[LabeledRow]:
    """`synthetic_rows` with times and an MCC; fraud favours one category."""
    rng = random.Random(seed)
    out = []
    for i, (inputs, fraud) in enumerate(synthetic_rows(n, seed)):
        mcc = "5732" if rng.random() < (0.5 if fraud else 0.05) else "5411"
        out.append(LabeledRow(T0 + timedelta(seconds=i), inputs, {"mcc": mcc}, fraud))
    return out


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
