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


def stump(threshold: float, missing: str, default_left: bool) -> list[TreeNode]:
    """x0 <= threshold -> -2, else +2, on the missing rule given; root value 0.5, so each move differs."""
    split = TreeNode(
        feature=0,
        threshold=threshold,
        left=1,
        right=2,
        default_left=default_left,
        missing=missing,  # type: ignore[arg-type]
        value=0.5,
    )
    return [split, TreeNode(feature=-1, value=-2.0), TreeNode(feature=-1, value=2.0)]


EDGES = [math.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-30, -0.5, 0.5, 1.0, -1.0, 3.0, math.inf, -math.inf]


@pytest.mark.parametrize("missing", ["none", "zero", "nan"])
@pytest.mark.parametrize("default_left", [True, False])
@pytest.mark.parametrize("threshold", [-0.5, 0.0, 1.0])
def test_the_generated_code_takes_the_walks_branch(
    missing: str, default_left: bool, threshold: float
) -> None:
    ensemble = TreeEnsemble(trees=[stump(threshold, missing, default_left)])
    assert ensemble.generated is not None
    for x0 in EDGES:
        generated, walked = [0.25], [0.25]
        assert ensemble.raw([x0], generated) == ensemble.walk([x0], walked), x0
        assert generated == walked, x0


@pytest.mark.parametrize(
    ("seed", "nan_share", "zero_as_missing"),
    [(1, 0.0, False), (2, 0.1, False), (3, 0.0, True)],
)
def test_generated_raw_scores_and_contributions_are_the_walks_exactly(
    seed: int, nan_share: float, zero_as_missing: bool
) -> None:
    clf, x = fitted(seed, nan_share=nan_share, zero_as_missing=zero_as_missing)
    ensemble = from_lightgbm(clf.booster_.dump_model())  # type: ignore[attr-defined]
    assert ensemble.generated is not None
    for row in x[:300].tolist():
        generated, walked = [0.0] * len(row), [0.0] * len(row)
        assert ensemble.raw(row, generated) == ensemble.walk(row, walked)
        assert generated == walked
        assert ensemble.raw(row) == ensemble.walk(row)


def chain(depth: int) -> list[TreeNode]:
    """A tree `depth` splits deep: node 2k splits x0 at k, its left child a leaf, its right the next split."""
    nodes = []
    for k in range(depth):
        nodes.append(TreeNode(feature=0, threshold=float(k), left=2 * k + 1, right=2 * k + 2, value=float(k)))
        nodes.append(TreeNode(feature=-1, value=-float(k)))
    nodes.append(TreeNode(feature=-1, value=100.0))
    return nodes


@pytest.mark.parametrize(
    ("trees", "generated"),
    [
        ([chain(10)], True),
        ([chain(80)], False),  # deeper than the code may nest: the walk answers
        ([STUMP, [TreeNode(feature=-1, value=1.5)]], True),  # a tree that is a single leaf
        ([[TreeNode(feature=-1, value=math.inf)]], False),  # no literal for inf
    ],
)
def test_the_walk_answers_what_cannot_be_generated(trees: list[list[TreeNode]], generated: bool) -> None:
    ensemble = TreeEnsemble(trees=trees)
    assert (ensemble.generated is not None) is generated
    for x0 in [-1.0, 0.5, 5.5, 79.5, 200.0, math.nan]:
        raw, walked = [0.0], [0.0]
        assert ensemble.raw([x0], raw) == ensemble.walk([x0], walked)
        assert raw == walked
