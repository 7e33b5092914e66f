"""Score drift as tables: the bins, the PSI, and the live window's counts."""

from __future__ import annotations

import math

import pytest

from scoring.serving.drift import FLOOR, SCORE_BINS, LiveScores, psi, score_bin, score_shares

UNIFORM = [1 / SCORE_BINS] * SCORE_BINS


def shares(**by_bin: float) -> list[float]:
    out = [0.0] * SCORE_BINS
    for name, share in by_bin.items():
        out[int(name[1:])] = share
    return out


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.0, 0), (0.049, 0), (0.05, 1), (0.5, 10), (0.999, 19), (1.0, 19)],
)
def test_score_bin(score: float, expected: int) -> None:
    assert score_bin(score) == expected


@pytest.mark.parametrize(
    ("expected", "actual", "value"),
    [
        (UNIFORM, UNIFORM, 0.0),
        # a quarter of the mass moves from bin 0 to bin 1: (a - e) ln(a / e) per bin
        (
            shares(b0=0.5, b1=0.5),
            shares(b0=0.25, b1=0.75),
            (0.25 - 0.5) * math.log(0.5) + 0.25 * math.log(1.5),
        ),
        # the same move the other way round
        (shares(b0=0.25, b1=0.75), shares(b0=0.5, b1=0.5), (0.25) * math.log(2) + (-0.25) * math.log(2 / 3)),
        # all live scores in a bin training never saw: the floor keeps it finite and large
        (shares(b0=1.0), shares(b19=1.0), (FLOOR - 1) * math.log(FLOOR) + (1 - FLOOR) * math.log(1 / FLOOR)),
    ],
    ids=["same", "shifted", "reversed", "unseen-bin"],
)
def test_psi(expected: list[float], actual: list[float], value: float) -> None:
    assert psi(expected, actual) == pytest.approx(value)


def test_psi_needs_the_same_bins() -> None:
    with pytest.raises(ValueError, match="20 expected bins against 3"):
        psi(UNIFORM, [0.5, 0.25, 0.25])


def test_score_shares() -> None:
    assert score_shares([0.01, 0.02, 0.51, 1.0]) == shares(b0=0.5, b10=0.25, b19=0.25)
    assert score_shares([]) == [0.0] * SCORE_BINS


def test_live_scores_keep_the_last_window_only() -> None:
    live = LiveScores(window=4)
    for s in (0.9, 0.9, 0.01, 0.01, 0.01, 0.01):  # the two 0.9s fall out of the window
        live.add(s)
    assert len(live) == 4 and live.counts[0] == 4 and live.counts[18] == 0
    assert live.psi_against(shares(b0=1.0), min_scores=4) == pytest.approx(0.0)
    assert live.psi_against(shares(b0=0.5, b18=0.5), min_scores=4) == pytest.approx(
        psi(shares(b0=0.5, b18=0.5), shares(b0=1.0))
    )


@pytest.mark.parametrize(
    ("expected", "added", "min_scores"),
    [(None, 10, 1), (UNIFORM, 3, 4), (UNIFORM, 0, 0)],
    ids=["no-training-shares", "too-few-scores", "no-score"],
)
def test_live_psi_is_nan_until_it_means_something(
    expected: list[float] | None, added: int, min_scores: int
) -> None:
    live = LiveScores(window=100)
    for _ in range(added):
        live.add(0.5)
    assert math.isnan(live.psi_against(expected, min_scores))
