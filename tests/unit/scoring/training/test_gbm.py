"""Fitting the gradient-boosted model: deterministic, and its artifact round-trips."""

from __future__ import annotations

from pathlib import Path

from scoring.serving.model import ModelArtifact, input_names, publish_artifact
from scoring.training.gbm import GbmParams, train_gbm
from tests.unit.scoring.builders import (
    CFG,
    T0,
    synthetic_labeled_rows,
)


def test_gbm_learns_deterministically_and_round_trips(tmp_path: Path) -> None:
    rows = synthetic_labeled_rows(3000, seed=11)
    model = train_gbm(rows, "gbm-1", config=CFG, params=GbmParams(trees=30), created_at=T0)
    assert model == train_gbm(rows, "gbm-1", config=CFG, params=GbmParams(trees=30), created_at=T0)
    assert model.kind == "gbm" and model.features[-1] == "mcc_prior"
    assert model.metrics.roc_auc is not None and model.metrics.roc_auc > 0.9
    assert model.metrics.n_train == 2250 and 0.0 < model.threshold < 1.0

    loaded = ModelArtifact.load(publish_artifact(model, tmp_path))
    assert loaded == model
    fraudish = dict.fromkeys(model.features, 0.0) | {"velocity_600_count": 8.0, "new_country": 1.0}
    usual = dict.fromkeys(model.features, 0.0) | {"velocity_600_count": 1.0}
    for inputs in (fraudish, usual):
        assert loaded.predict(inputs, {"mcc": "5732"}) == model.predict(inputs, {"mcc": "5732"})
    assert model.predict(fraudish, {"mcc": "5732"})[0] >= model.threshold > model.predict(usual)[0]
    # the category reaches the score through the learned prior
    assert model.predict(fraudish, {"mcc": "5732"})[0] > model.predict(fraudish, {"mcc": "5411"})[0]
    assert model.missing_inputs(set(input_names(CFG))) == []
