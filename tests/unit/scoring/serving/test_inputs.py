"""Model inputs follow the swipe fields: which names each field set yields, which fields data carries,
the card window inputs (max, mean, amount against the card's own mean), and the scorer refusing a
model whose fields its traffic lacks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from scoring.serving.inputs import (
    FIELD_INPUTS,
    SWIPE_FIELDS,
    check_fields,
    input_names,
    model_inputs,
    present_fields,
)
from scoring.serving.merchant_inputs import MERCHANT_PREFIX
from scoring.serving.model import ModelArtifact, publish_artifact
from scoring.serving.request_features import request_features
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig
from streaming.schema import Swipe
from tests.unit.scoring.builders import CFG, TOKEN, artifact, card_features, swipe
from tests.unit.scoring.serving.harness import Harness, body

MERCHANT = MerchantConfig()


@pytest.mark.parametrize(
    ("fields", "absent"),
    [
        (SWIPE_FIELDS, set()),
        (("merchant",), {*FIELD_INPUTS["position"], "new_country", "new_mcc", *FIELD_INPUTS["channel"]}),
        (("merchant", "mcc", "country", "channel"), set(FIELD_INPUTS["position"])),
        ((), {n for names in FIELD_INPUTS.values() for n in names}),
    ],
)
def test_a_missing_field_removes_exactly_its_inputs(fields: tuple[str, ...], absent: set[str]) -> None:
    everything = input_names(CFG, MERCHANT)
    names = input_names(CFG, MERCHANT, fields)
    reads_merchant = any(n.startswith(MERCHANT_PREFIX) for n in names)
    assert set(everything) - set(names) - {n for n in everything if n.startswith(MERCHANT_PREFIX)} == absent
    assert reads_merchant == ("merchant" in fields)
    assert names == [n for n in everything if n in names]  # the same order, a subset
    assert {"amount_log", "amount_z", "since_last_log", "hour_share", "history_log"} <= set(names)


def test_an_unknown_field_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown swipe field.*'gps'.*position"):
        check_fields(["gps"])


def _swipes(**columns: list[Any]) -> list[Swipe]:
    n = len(next(iter(columns.values())))
    out = []
    for i in range(n):
        row = {k: v[i] for k, v in columns.items()}
        where = (row.pop("lat"), row.pop("lon")) if "lat" in row else None
        details = swipe(i, 60.0 * i, where=where if where and where[0] is not None else None, **row)
        out.append(Swipe(**details.model_dump(), card_token=TOKEN))
    return out


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        # what `replay --file` fills in for an unmapped column is one value: not a field
        ({"merchant": ["m1", "m2"], "mcc": ["5999", "5999"], "country": ["ZZ", "ZZ"]}, ("merchant",)),
        (
            {"merchant": ["m1", "m1"], "mcc": ["5411", "5812"], "lat": [None, 48.8], "lon": [None, 2.3]},
            ("mcc", "position"),
        ),
        ({"country": ["FR", "DE"], "channel": ["pos", "ecom"]}, ("country", "channel")),
        ({"merchant": ["m1", "m1"]}, ()),
    ],
)
def test_present_fields_are_those_that_vary_or_have_a_position(
    columns: dict[str, list[object]], expected: tuple[str, ...]
) -> None:
    assert present_fields(_swipes(**columns)) == expected


def test_window_inputs_compare_the_amount_with_the_cards_own_swipes_in_the_window() -> None:
    config = FeatureConfig(horizons_s=(600, 86400))
    # streamed: 2 swipes (40 in all, the larger 30) in the day window, none in the last 10 minutes
    card = card_features(as_of_s=-1200, windows={600: (2, 40.0, 0), 86400: (2, 40.0, 0)})
    card = card.model_copy(
        update={"windows": [w.model_copy(update={"amount_max": 30.0}) for w in card.windows]}
    )
    rf = request_features(swipe(amount=100.0), card, (), config)
    x = model_inputs(card, rf)
    assert x["velocity_86400_count"] == 3
    assert x["velocity_86400_amount_max_log"] == pytest.approx(math.log1p(100.0))
    assert x["velocity_86400_amount_mean_log"] == pytest.approx(math.log1p(140.0 / 3))
    assert x["velocity_86400_amount_vs_mean"] == pytest.approx(math.log1p(100.0) - math.log1p(20.0))
    # the streamed swipes are older than 10 minutes: the window holds this swipe alone
    assert x["velocity_600_count"] == 1
    assert x["velocity_600_amount_vs_mean"] == 0.0
    assert x["velocity_600_amount_max_log"] == pytest.approx(math.log1p(100.0))


@pytest.mark.parametrize("horizons", [(600, 3600), (60, 600, 86400, 604800, 2592000), (3600,)])
def test_the_inputs_are_the_named_ones_in_their_order(horizons: tuple[int, ...]) -> None:
    config = FeatureConfig(horizons_s=horizons)
    windows = {h: (2, 40.0, 1) for h in horizons}
    for card in (card_features(as_of_s=-30, windows=windows), None):
        x = model_inputs(card, request_features(swipe(amount=25.0), card, (), config))
        assert list(x) == input_names(config)


def _model(fields: tuple[str, ...]) -> ModelArtifact:
    names = input_names(CFG, None, fields)
    full = artifact()
    return full.model_copy(
        update={
            "features": names,
            "means": [0.0] * len(names),
            "stds": [1.0] * len(names),
            "coefficients": [1.0 if n == "velocity_600_count" else 0.0 for n in names],
            "swipe_fields": list(fields),
        }
    )


@pytest.mark.parametrize(
    ("model_fields", "scorer_fields", "loads"),
    [
        (("merchant",), list(SWIPE_FIELDS), True),  # a minimal model runs on full traffic
        (SWIPE_FIELDS, ["merchant"], False),  # a full model cannot run on minimal traffic
        (("merchant", "position"), ["merchant", "mcc"], False),
        (("merchant", "mcc"), ["merchant", "mcc"], True),
    ],
)
def test_the_scorer_refuses_a_model_reading_fields_its_traffic_lacks(
    tmp_path: Path, model_fields: tuple[str, ...], scorer_fields: list[str], loads: bool
) -> None:
    h = Harness(tmp_path, model=False, swipe_fields=scorer_fields)
    publish_artifact(_model(model_fields), tmp_path / "models")
    with h.client() as c:
        ready = c.get("/readyz").json()
        r = c.post("/v1/score?explain=true", json=body()).json()
    if loads:
        assert ready["model"] == "test-1" and r["model_version"] == "test-1"
    else:
        assert "reads swipe fields" in ready["model"] and "FRAUDSTREAM_SWIPE_FIELDS" in ready["model"]
        assert r["model_version"] is None
