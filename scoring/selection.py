"""Model selection on time: fit the logistic model and the boosted trees, keep the better one.

Both trainers hold out the same latest rows (`validation_fraction` of them, in time order) as their
out-of-time validation slice; the kind with the higher average precision there is kept, and the
artifact's `selection` records every candidate's figures:

    rows (time order)   |========= fit ==========|==== validation ====|
    logistic            fit here                 AP_logistic
    gbm                 fit here                 AP_gbm                 -> keep the larger

The rows' labels are those known when training runs (`scoring.training_set`, the backtest's label
cutoff), so the slice respects the label delay as training does. No I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scoring.inputs import SWIPE_FIELDS
from scoring.model import Candidate, ModelArtifact, ModelSelection
from scoring.training import LabeledRow, train_logistic
from scoring.training_gbm import train_gbm
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
    training_window: tuple[datetime, datetime] | None = None,
    created_at: datetime | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Selection:
    """Fit `kind` (both kinds for "auto") on time-ordered rows; keep the best validation AP.

    `version(kind)` names each artifact. A tie keeps the logistic model, the cheaper one to serve.
    """
    fitted: dict[str, ModelArtifact] = {}
    for k in KINDS if kind == "auto" else (kind,):
        progress(f"fitting the {k} model on {len(rows):,} swipes")
        if k == "gbm":
            fitted[k] = train_gbm(
                rows,
                version(k),
                config=config,
                merchant=merchant,
                fields=fields,
                seed=seed,
                training_window=training_window,
                created_at=created_at,
            )
        else:
            fitted[k] = train_logistic(
                [(r.inputs, r.is_fraud) for r in rows],
                version(k),
                config=config,
                merchant=merchant,
                fields=fields,
                seed=seed,
                training_window=training_window,
                created_at=created_at,
            )
    selection = ModelSelection(
        candidates=[
            Candidate(kind=a.kind, average_precision=a.metrics.average_precision, roc_auc=a.metrics.roc_auc)
            for a in fitted.values()
        ]
    )
    best = selection.ranked()[0].kind
    return Selection(fitted[best].model_copy(update={"selection": selection}), fitted)
