"""The review queue: cases of swipes a `review` rule flagged, held in memory from the `reviews` topic.

Every scorer replica follows `reviews` from the beginning into a `ReviewQueue`, as it follows
`card-tiles` into its feature table (the same `FeatureFollower`), so every replica lists the same
open cases and knows the same closed ones. The replica that decides a swipe or takes a verdict also
puts the case in its own queue at once, so it answers its own writes before Kafka brings them back.

Pure helpers build what goes on the topics: the open case of a decision, the closed case of a
verdict and the `Label` a verdict becomes. The scoring path never reads this queue nor a label.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from scoring.serving.online import OnlineTable
from streaming.schema import Label, ReviewCase, ReviewReason, Swipe, Verdict

REVIEW = (
    "review"  # the value of a reason of a fired review rule (scoring.serving.decision: rule:<id>, action)
)
SCENARIO_REVIEW = "analyst_review"  # the label's `scenario` when it came from the queue


class ReviewQueue(OnlineTable[ReviewCase]):
    """swipe_id -> the case's newest state: closed beats open, then the later event wins."""

    def __init__(self) -> None:
        super().__init__(ReviewCase, lambda case: case.swipe.swipe_id, _order)

    def open_cases(self, limit: int) -> list[ReviewCase]:
        """The open cases, oldest decision first (the next to work), at most `limit`."""
        held = [self.get(key) for key in list(self._records) if self._records.get(key, (1.0,))[0] == 0.0]
        cases = sorted((c for c in held if c is not None), key=lambda c: (c.decided_at, c.swipe.swipe_id))
        return cases[:limit]


def _order(case: ReviewCase) -> tuple[float, float]:
    if case.status == "closed":
        return 1.0, (case.closed_at or case.decided_at).timestamp()
    return 0.0, case.decided_at.timestamp()


def flags_review(reasons: Iterable[tuple[str, float | str | None]]) -> bool:
    """Whether a decision's (code, value) reasons hold a fired `review` rule."""
    return any(code.startswith("rule:") and value == REVIEW for code, value in reasons)


def open_case(
    swipe: Swipe,
    score: float | None,
    model_version: str | None,
    reasons: Iterable[tuple[str, str, float | str | None]],
    features: Mapping[str, float],
    decided_at: datetime,
) -> ReviewCase:
    """The case a review decision opens; `swipe` carries its decision, `reasons` are (code, detail, value)."""
    assert swipe.decision is not None  # a decided swipe
    return ReviewCase(
        swipe=swipe,
        decision=swipe.decision,
        score=score,
        model_version=model_version,
        reasons=[ReviewReason(code=c, detail=d, value=v) for c, d, v in reasons],
        features=dict(features),
        decided_at=decided_at,
    )


def close_case(case: ReviewCase, verdict: Verdict, analyst: str, note: str, at: datetime) -> ReviewCase:
    """The case closed by an analyst's verdict at `at`."""
    closed = {"status": "closed", "verdict": verdict, "analyst": analyst, "note": note, "closed_at": at}
    return ReviewCase.model_validate({**case.model_dump(), **closed})


def verdict_label(case: ReviewCase) -> Label:
    """The label a closed case becomes, reported when the verdict was given."""
    assert case.verdict is not None and case.closed_at is not None
    return Label.of(
        case.swipe, is_fraud=case.verdict == "fraud", scenario=SCENARIO_REVIEW, reported_at=case.closed_at
    )
