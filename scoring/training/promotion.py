"""Gated promotion: does a candidate model replace the serving one? Pure.

Both models score the same latest labeled window, point in time (rows from
`scoring.training.training_set.training_rows`). The candidate is promoted when

    candidate AP >= champion AP - ap_margin             (ranking not worse beyond the margin)
    |candidate deny rate - champion deny rate| <= bound (the volume of denials stays in step)

A window with no fraud label, or no legitimate swipe, measures no AP: nothing is promoted. With no
serving model there is nothing to protect, and the candidate is promoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scoring.serving.model import ModelArtifact
from scoring.training.evaluation import average_precision
from scoring.training.fit import LabeledRow


@dataclass(frozen=True, slots=True)
class Gate:
    """How much worse the candidate's AP may be, and how far its deny rate may move (both fractions)."""

    ap_margin: float = 0.01
    deny_rate_bound: float = 0.02

    def __post_init__(self) -> None:
        if not 0 <= self.ap_margin <= 1:
            raise ValueError(f"the AP margin must be in [0, 1], e.g. 0.01, not {self.ap_margin}")
        if not 0 <= self.deny_rate_bound <= 1:
            raise ValueError(f"the deny-rate bound must be in [0, 1], e.g. 0.02, not {self.deny_rate_bound}")


@dataclass(frozen=True, slots=True)
class ModelFigures:
    """One model on the backtest window: its AP, and the share of swipes at or above its threshold."""

    version: str
    average_precision: float | None
    deny_rate: float
    threshold: float


@dataclass(frozen=True, slots=True)
class Verdict:
    promote: bool
    reason: str


def figures(model: ModelArtifact, rows: Sequence[LabeledRow]) -> ModelFigures:
    """`model` scored on `rows` as the scorer would score them (its own threshold)."""
    if not rows:
        raise ValueError("no swipe in the backtest window: nothing to compare the models on")
    scores = np.array([model.predict(r.inputs, r.categories)[0] for r in rows])
    y = np.array([r.is_fraud for r in rows], dtype=bool)
    return ModelFigures(
        model.version,
        average_precision(y, scores),
        float(np.mean(scores >= model.threshold)),
        model.threshold,
    )


def verdict(candidate: ModelFigures, champion: ModelFigures | None, gate: Gate) -> Verdict:
    """Promote or not, and why, in words an operator reads in the comparison file."""
    if champion is None:
        return Verdict(True, "no serving model: the candidate is the first")
    if candidate.average_precision is None or champion.average_precision is None:
        return Verdict(
            False, "the backtest window lacks fraud labels or legitimate swipes: no AP to compare on"
        )
    ap_change = candidate.average_precision - champion.average_precision
    if ap_change < -gate.ap_margin:
        return Verdict(
            False,
            f"average precision {candidate.average_precision:.4f} is {-ap_change:.4f} below the "
            f"serving model's {champion.average_precision:.4f}, more than the margin {gate.ap_margin}",
        )
    rate_change = candidate.deny_rate - champion.deny_rate
    if abs(rate_change) > gate.deny_rate_bound:
        return Verdict(
            False,
            f"deny rate {candidate.deny_rate:.4f} moves {rate_change:+.4f} from the serving model's "
            f"{champion.deny_rate:.4f}, beyond the bound {gate.deny_rate_bound}",
        )
    return Verdict(
        True,
        f"average precision {candidate.average_precision:.4f} vs {champion.average_precision:.4f} "
        f"({ap_change:+.4f}, margin {gate.ap_margin}); deny rate {candidate.deny_rate:.4f} vs "
        f"{champion.deny_rate:.4f} ({rate_change:+.4f}, bound {gate.deny_rate_bound})",
    )
