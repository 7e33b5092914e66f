"""The model artifact: predict arithmetic, contributions, the file, and what it refuses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from scoring.serving.model import ModelArtifact, input_names, publish_artifact
from scoring.serving.priors import CategoryPrior
from scoring.serving.trees import TreeEnsemble, TreeNode
from scoring.training.gbm import GbmParams, train_gbm
from tests.unit.scoring.builders import (
    CFG,
    artifact,
    synthetic_labeled_rows,
)


def test_predict_is_a_standardized_logistic_with_contributions() -> None:
    names = input_names(CFG)
    base = artifact({"velocity_600_count": 0.5, "new_country": 2.0}, intercept=-3.0)
    model = ModelArtifact.model_validate(
        base.model_dump() | {"means": [1.0] * len(names), "stds": [2.0] * len(names)}
    )
    inputs = dict.fromkeys(names, 1.0) | {"velocity_600_count": 9.0, "new_country": 3.0}
    score, contributions = model.predict(inputs)
    # 0.5 * (9 - 1) / 2 + 2.0 * (3 - 1) / 2 = 2 + 2
    assert contributions["velocity_600_count"] == pytest.approx(2.0)
    assert contributions["new_country"] == pytest.approx(2.0)
    assert score == pytest.approx(1 / (1 + math.exp(-(-3.0 + 4.0))))
    assert model.predict({})[0] == pytest.approx(1 / (1 + math.exp(3.0)))  # missing inputs sit at the mean
    assert model.predict({"velocity_600_count": -1e9})[0] == 0.0  # no overflow either way
    assert model.predict({"velocity_600_count": 1e9})[0] == 1.0


def test_artifact_round_trips_and_publishes_current(tmp_path: Path) -> None:
    model = artifact()
    current = publish_artifact(model, tmp_path / "models")
    assert current == tmp_path / "models" / "current.json"
    assert ModelArtifact.load(current) == model
    assert ModelArtifact.load(tmp_path / "models" / "test-1.json") == model


def test_artifact_rejects_inconsistent_vectors() -> None:
    with pytest.raises(ValueError, match="same length"):
        ModelArtifact.model_validate(artifact().model_dump() | {"means": [0.0]})


def test_gbm_contributions_explain_the_score() -> None:
    model = train_gbm(synthetic_labeled_rows(2000, seed=5), "gbm-2", config=CFG, params=GbmParams(trees=20))
    assert model.trees is not None
    inputs = dict.fromkeys(model.features, 0.0) | {"velocity_600_count": 8.0}
    score, contributions = model.predict(inputs, {"mcc": "5411"})
    raw = model.trees.expected_raw + sum(contributions.values())
    assert score == pytest.approx(1 / (1 + math.exp(-raw)))
    assert max(contributions, key=lambda n: contributions[n]) == "velocity_600_count"


def test_a_gbm_artifact_needs_trees_that_fit_its_features() -> None:
    model = train_gbm(synthetic_labeled_rows(1000, seed=2), "gbm-3", config=CFG, params=GbmParams(trees=5))
    with pytest.raises(ValueError, match="needs its trees"):
        ModelArtifact.model_validate(model.model_dump() | {"trees": None})
    with pytest.raises(ValueError, match="only"):
        ModelArtifact.model_validate(model.model_dump() | {"features": model.features[:1], "priors": []})


# A gbm on one prior: mcc_prior <= 0 (safe, or never seen) -> -1, else +1 (root value 0).
PRIOR = CategoryPrior(
    category="mcc", smoothing=10.0, base_rate=0.1, counts={"7995": (9, 10), "5411": (0, 90)}
)
PRIOR_STUMP = TreeEnsemble(
    trees=[
        [
            TreeNode(feature=1, threshold=0.0, left=1, right=2, value=0.0),
            TreeNode(feature=-1, value=-1.0),
            TreeNode(feature=-1, value=1.0),
        ]
    ]
)


@pytest.mark.parametrize(
    ("categories", "raw"),
    [({"mcc": "7995"}, 1.0), ({"mcc": "5411"}, -1.0), ({"mcc": "0000"}, -1.0), ({}, -1.0), (None, -1.0)],
)
def test_a_gbm_reads_its_priors_from_the_request_categories(
    categories: dict[str, object] | None, raw: float
) -> None:
    model = ModelArtifact.model_validate(
        artifact().model_dump()
        | {"kind": "gbm", "features": ["amount_log", "mcc_prior"], "trees": PRIOR_STUMP, "priors": [PRIOR]}
    )
    inputs = {"amount_log": 3.0, "mcc_prior": 5.0}  # a stale mcc_prior among the inputs does not count
    score, contributions = model.predict(inputs, categories)
    assert score == 1 / (1 + math.exp(-raw))
    assert contributions == {"amount_log": 0.0, "mcc_prior": raw}
