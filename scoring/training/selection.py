"""Model selection on time: fit the logistic model and the boosted trees, keep the better one.

Both trainers hold out the same latest rows (`validation_fraction` of them, in time order) as their
out-of-time validation slice; the kind with the higher average precision there is kept, and the
artifact's `selection` records every candidate's figures:

    rows (time order)   |========= fit ==========|==== validation ====|
    logistic            fit here                 AP_logistic
    gbm                 fit here                 AP_gbm                 -> keep the larger

The rows' labels are those known when training runs (`scoring.training.training_set`, the backtest's label
cutoff). With a label delay D, the fit rows stop D before the validation slice starts, so every fit
row's chargeback had time to arrive by then, as it would have for a model trained at that moment:

    rows (time order)   |====== fit ======|<-- D -->|==== validation ====|
                                           left out

No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from scoring.serving.drift import score_shares
from scoring.serving.inputs import SWIPE_FIELDS
from scoring.serving.model import Candidate, ModelArtifact, ModelSelection
from scoring.training.fit import LabeledRow, split_index, train_logistic
from scoring.training.gbm import train_gbm
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig

ModelKind = Literal["auto", "gbm", "logistic"]  # what `fraudstream train|backtest --kind` takes
KINDS: tuple[Literal["logistic", "gbm"], ...] = ("logistic", "gbm")


def parse_kind(text: str) -> ModelKind:
    """`--kind`'s value; ValueError says which are known."""
    if text not in ("auto", "gbm", "logistic"):
        raise ValueError(f"--kind must be auto (fit both, keep the better), logistic or gbm, not {text!r}")
    return text  # type: ignore[return-value]


@dataclass(frozen=True)
class Selection:
    """The kept artifact (its `selection` filled in) and every fitted one, by kind."""

    chosen: ModelArtifact
    fitted: dict[str, ModelArtifact]


def fit_and_select(
    rows: Sequence[LabeledRow],
    kind: ModelKind,
    version: Callable[[str], str],
    *,
    config: FeatureConfig,
    merchant: MerchantConfig | None = None,
    fields: Collection[str] = SWIPE_FIELDS,
    seed: int = 0,
    validation_fraction: float = 0.25,
    label_delay: timedelta = timedelta(0),
    training_window: tuple[datetime, datetime] | None = None,
    created_at: datetime | None = None,
    refit: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> Selection:
    """Fit `kind` (both kinds for "auto") on time-ordered rows; keep the best validation AP.

    The latest `validation_fraction` of the rows is the validation slice (the threshold is chosen
    there too); the fit rows end `label_delay` before it. `version(kind)` names each artifact. A
    tie keeps the logistic model, the cheaper one to serve. With `refit` (the default) each kind,
    once measured, is fit again on every row: the validation slice is the latest quarter of the
    history, the part most like what the model will score, and leaving it out cost a generated
    world's test AP 0.35 -> 0.58 (docs/benchmarks.md).
    """
    rows, validation_fraction = with_gap(rows, validation_fraction, label_delay)
    fitted: dict[str, ModelArtifact] = {}
    shared: dict[str, Any] = {
        "config": config,
        "merchant": merchant,
        "fields": fields,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "training_window": training_window,
        "created_at": created_at,
        "refit": refit,
    }
    for k in KINDS if kind == "auto" else (kind,):
        progress(f"fitting the {k} model on {len(rows):,} swipes")
        fitted[k] = (
            train_gbm(rows, version(k), **shared)
            if k == "gbm"
            else train_logistic([(r.inputs, r.is_fraud) for r in rows], version(k), **shared)
        )
    selection = ModelSelection(
        candidates=[
            Candidate(kind=a.kind, average_precision=a.metrics.average_precision, roc_auc=a.metrics.roc_auc)
            for a in fitted.values()
        ]
    )
    best = selection.ranked()[0].kind
    chosen = fitted[best]
    # The scores the model gave its out-of-time validation slice: the distribution live scores
    # are compared with (scoring.serving.drift).
    validation = rows[split_index(len(rows), validation_fraction) :]
    shares = score_shares(chosen.predict(r.inputs, r.categories)[0] for r in validation)
    return Selection(chosen.model_copy(update={"selection": selection, "score_shares": shares}), fitted)


def with_gap(
    rows: Sequence[LabeledRow], validation_fraction: float, label_delay: timedelta
) -> tuple[list[LabeledRow], float]:
    """The rows without those in the `label_delay` before the validation slice, and the fraction
    that puts the same slice last; ValueError when no row is left to fit."""
    split = split_index(len(rows), validation_fraction)
    if label_delay <= timedelta(0) or split >= len(rows):
        return list(rows), validation_fraction
    validation = list(rows[split:])
    fit = [r for r in rows[:split] if r.t < validation[0].t - label_delay]
    if not fit:
        raise ValueError(
            f"a label delay of {label_delay} leaves no row to fit before the validation slice (from "
            f"{validation[0].t:%Y-%m-%d %H:%M}); train on a longer period or shorten the delay"
        )
    # Half a row short of the slice's share, so the trainers' int() lands exactly on its first row.
    return fit + validation, (len(validation) - 0.5) / (len(fit) + len(validation))
