"""The shadow comparison as a table: decisions and labels in, agreement, denials, precision, recall out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scoring.training.shadow_compare import PairedDecision, compare

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def row(
    i: int, champion: str, challenger: str, fraud: bool | None = None, later_s: int = 0
) -> PairedDecision:
    return PairedDecision(f"sw-{i}", T0 + timedelta(seconds=later_s), champion, challenger, fraud)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # rows -> (swipes, agreement, only champion denies, only challenger denies, frauds,
        #          champion (denials, caught, precision, recall), challenger (same))
        ([], (0, None, 0, 0, 0, (0, 0, None, None), (0, 0, None, None))),
        (
            [row(1, "approve", "approve"), row(2, "deny", "deny")],
            (2, 1.0, 0, 0, 0, (1, 0, None, None), (1, 0, None, None)),
        ),
        # no labels yet: denials differ, precision and recall unknown
        (
            [
                row(1, "approve", "deny"),
                row(2, "approve", "deny"),
                row(3, "deny", "approve"),
                row(4, "approve", "approve"),
            ],
            (4, 0.25, 1, 2, 0, (1, 0, None, None), (2, 0, None, None)),
        ),
        # labels: the challenger catches both frauds with one false alarm; the champion one, cleanly
        (
            [
                row(1, "deny", "deny", fraud=True),
                row(2, "approve", "deny", fraud=True),
                row(3, "approve", "deny"),
                row(4, "approve", "approve", fraud=False),
            ],
            (4, 0.5, 0, 2, 2, (1, 1, 1.0, 0.5), (3, 2, 2 / 3, 1.0)),
        ),
        # frauds but no denials: recall 0, precision undefined
        ([row(1, "approve", "approve", fraud=True)], (1, 1.0, 0, 0, 1, (0, 0, None, 0.0), (0, 0, None, 0.0))),
        # a retried swipe: the newest decision counts, once
        (
            [
                row(1, "approve", "approve", later_s=0),
                row(1, "deny", "approve", later_s=5),
                row(2, "deny", "deny"),
            ],
            (2, 0.5, 1, 0, 0, (2, 0, None, None), (1, 0, None, None)),
        ),
    ],
    ids=["empty", "agree", "no-labels", "labels", "no-denials", "retried"],
)
def test_compare(
    rows: list[PairedDecision],
    expected: tuple[int, float | None, int, int, int, tuple[object, ...], tuple[object, ...]],
) -> None:
    c = compare(rows)
    champion = (c.champion.denials, c.champion.caught, c.champion.precision, c.champion.recall)
    challenger = (c.challenger.denials, c.challenger.caught, c.challenger.precision, c.challenger.recall)
    got = (
        c.swipes,
        c.agreement,
        c.only_champion_denies,
        c.only_challenger_denies,
        c.frauds,
        champion,
        challenger,
    )
    assert got == expected  # shares are ratios of small counts: exact as floats
    assert c.denial_difference == c.challenger.denials - c.champion.denials
