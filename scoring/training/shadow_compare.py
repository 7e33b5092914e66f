"""Champion against challenger on the swipes both decided: agreement, denials, precision and recall. Pure.

A swipe counts as fraud when a fraud label for it has arrived, and as legitimate otherwise
(chargebacks come for fraud only). Precision and recall are None until some compared swipe has a
fraud label: before that there is nothing to measure them on. A retried request is decided
again; the newest decision of a swipe is the one compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PairedDecision:
    """One swipe as the decision record has it: both decisions, and its label if one arrived."""

    swipe_id: str
    decided_at: datetime
    champion: str  # approve | deny
    challenger: str
    is_fraud: bool | None = None  # None: no label


@dataclass(frozen=True, slots=True)
class SideFigures:
    """One side's denials, and its precision and recall on the labeled frauds (None before any)."""

    denials: int
    caught: int  # denied swipes labeled fraud
    precision: float | None
    recall: float | None


@dataclass(frozen=True, slots=True)
class ShadowComparison:
    swipes: int
    agreement: float | None  # share of swipes with the same decision
    only_champion_denies: int
    only_challenger_denies: int
    frauds: int  # compared swipes with a fraud label
    champion: SideFigures
    challenger: SideFigures

    @property
    def denial_difference(self) -> int:
        """How many more swipes the challenger denies than the champion (negative: fewer)."""
        return self.challenger.denials - self.champion.denials


def newest_per_swipe(rows: Iterable[PairedDecision]) -> list[PairedDecision]:
    """One row per swipe: the latest decided (a retried request was decided again)."""
    newest: dict[str, PairedDecision] = {}
    for row in rows:
        seen = newest.get(row.swipe_id)
        if seen is None or row.decided_at >= seen.decided_at:
            newest[row.swipe_id] = row
    return list(newest.values())


def compare(rows: Iterable[PairedDecision]) -> ShadowComparison:
    """The comparison over the newest decision of each swipe."""
    paired = newest_per_swipe(rows)
    frauds = sum(1 for r in paired if r.is_fraud)
    agree = sum(1 for r in paired if r.champion == r.challenger)
    return ShadowComparison(
        swipes=len(paired),
        agreement=agree / len(paired) if paired else None,
        only_champion_denies=sum(1 for r in paired if r.champion == "deny" != r.challenger),
        only_challenger_denies=sum(1 for r in paired if r.challenger == "deny" != r.champion),
        frauds=frauds,
        champion=_side([(r.champion == "deny", bool(r.is_fraud)) for r in paired], frauds),
        challenger=_side([(r.challenger == "deny", bool(r.is_fraud)) for r in paired], frauds),
    )


def _side(denied_fraud: list[tuple[bool, bool]], frauds: int) -> SideFigures:
    denials = sum(1 for denied, _ in denied_fraud if denied)
    caught = sum(1 for denied, fraud in denied_fraud if denied and fraud)
    if not frauds:
        return SideFigures(denials, caught, None, None)
    return SideFigures(denials, caught, caught / denials if denials else None, caught / frauds)
