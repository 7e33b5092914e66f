"""The pure-Python tree walk against LightGBM itself: same probabilities, contributions that add up."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring.serving.trees import TreeEnsemble, TreeNode, from_lightgbm

lgb = pytest.importorskip("lightgbm")


def fitted(seed: int, *, nan_share: float = 0.0, zero_as_missing: bool = False) -> tuple[object, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 6))
    x[:, 3] = x[:, 3] > 0  # a flag, as the model inputs have many
    y = x[:, 0] + x[:, 1] * x[:, 3] - 0.5 * x[:, 2] + rng.normal(size=len(x)) > 1.0
    if nan_share:
        x[rng.random(len(x)) < nan_share, 2] = np.nan
    clf = lgb.LGBMClassifier(
        n_estimators=40, num_leaves=15, random_state=seed, verbose=-1, zero_as_missing=zero_as_missing
    )
    clf.fit(x, y)
    return clf, x


@pytest.mark.parametrize(
    ("seed", "nan_share", "zero_as_missing"),
    [(1, 0.0, False), (2, 0.1, False), (3, 0.0, True)],
)
def test_the_walk_equals_lightgbm_predict_proba(seed: int, nan_share: float, zero_as_missing: bool) -> None:
    clf, x = fitted(seed, nan_share=nan_share, zero_as_missing=zero_as_missing)
    ensemble = from_lightgbm(clf.booster_.dump_model())  # type: ignore[attr-defined]
    sample = x[:500]
    expected = clf.predict_proba(sample)[:, 1]  # type: ignore[attr-defined]
    got = np.array([ensemble.probability(ensemble.raw(row.tolist())) for row in sample])
    assert np.abs(got - expected).max() < 1e-9


def test_contributions_add_up_to_the_raw_score() -> None:
    clf, x = fitted(4)
    ensemble = from_lightgbm(clf.booster_.dump_model())  # type: ignore[attr-defined]
    for row in x[:50]:
        moves = [0.0] * x.shape[1]
        raw = ensemble.raw(row.tolist(), moves)
        assert ensemble.expected_raw + sum(moves) == pytest.approx(raw, abs=1e-9)
    # the noise feature 4 and 5 matter much less than the signal 0 on average
    moves = [0.0] * x.shape[1]
    for row in x[:200]:
        step = [0.0] * x.shape[1]
        ensemble.raw(row.tolist(), step)
        moves = [m + abs(s) for m, s in zip(moves, step, strict=True)]
    assert moves[0] > 3 * max(moves[4], moves[5])


# A hand-made stump: x0 <= 1 -> -2, else +2; a missing x0 (zero-as-missing) goes right.
STUMP = [
    TreeNode(feature=0, threshold=1.0, left=1, right=2, default_left=False, missing="zero", value=0.0),
    TreeNode(feature=-1, value=-2.0),
    TreeNode(feature=-1, value=2.0),
]


@pytest.mark.parametrize(
    ("x0", "raw"),
    [(0.5, -2.0), (1.0, -2.0), (1.5, 2.0), (0.0, 2.0), (math.nan, 2.0), (-3.0, -2.0)],
)
def test_stump_follows_lightgbm_rules(x0: float, raw: float) -> None:
    ensemble = TreeEnsemble(trees=[STUMP])
    assert ensemble.raw([x0]) == raw
    assert ensemble.probability(raw) == pytest.approx(1 / (1 + math.exp(-raw)))


def test_a_split_pointing_outside_its_tree_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside the tree"):
        TreeEnsemble(trees=[[TreeNode(feature=0, threshold=0.0, left=1, right=5, value=0.0)]])


def test_only_binary_models_convert() -> None:
    with pytest.raises(ValueError, match="only binary"):
        from_lightgbm({"objective": "regression", "tree_info": []})
