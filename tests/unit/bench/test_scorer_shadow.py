"""bench scorer's in-process shadow phase: both variants decide the same swipes, the after-work is timed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scorer_data import build_inputs
from bench.scorer_shadow import ROUNDS, shadow_cost
from scoring.serving.settings import ScorerSettings
from tests.unit.scoring.builders import artifact


def test_shadow_cost_times_the_response_with_and_without_and_the_after_work(tmp_path: Path) -> None:
    settings = ScorerSettings(_env_file=None)  # type: ignore[call-arg]
    inputs = build_inputs(
        tmp_path / "in", settings.token_key.get_secret_value().encode(), settings.feature_config,
        cards=40, template_cards=10, history_days=1.0,
    )  # fmt: skip
    model, shadow = tmp_path / "model.json", tmp_path / "shadow.json"
    model.write_text(artifact().to_json())
    shadow.write_text(artifact(intercept=2.0).model_copy(update={"version": "shadow"}).to_json())
    out = shadow_cost(inputs.features_path, inputs.bodies_path, model, shadow, per_round=20)
    assert out["swipes_per_variant"] == 20 * ROUNDS
    # the after-work ran for every swipe of the shadowed scorer (a median of nothing would raise)
    assert all(
        isinstance(out[k], float) for k in ("response_us_without", "response_us_with", "after_response_us")
    )
    # the ratio is of the unrounded medians: the rounded ones printed beside it give it to ~0.001
    ratio = out["response_us_with"] / out["response_us_without"]
    assert out["response_ratio"] == pytest.approx(ratio, abs=0.002)
