"""Merchant inputs: what the scorer reads from a record, and the same thing replayed for training."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from scoring.serving.merchant_inputs import merchant_input_names, merchant_inputs, merchant_inputs_by_swipe
from services.generator.history import labeled_history
from services.generator.population import PopulationConfig, build_population
from services.generator.scenarios import LabelDelay, labels_for
from streaming.merchant_state import MerchantConfig, MerchantEvent, MerchantState, arrival, features, fold
from streaming.schema import Label, MerchantFeatures, MerchantFraud, Swipe
from tests.unit.scoring.builders import T0, TOKEN, swipe

H = 3600
CFG = MerchantConfig(volume_horizons_s=(H,), fraud_horizons_s=(2 * H, 4 * H), label_delay_s=H, bucket_s=H)


def record(fraud: dict[int, tuple[int, int, float]]) -> MerchantFeatures:
    return MerchantFeatures(
        merchant_id="m1",
        as_of=T0,
        events=30,
        computed_at=T0,
        bucket_s=H,
        label_delay_s=H,
        volume=[],
        fraud=[
            MerchantFraud(horizon_s=h, swipes=s, fraud_known=k, fraud_rate=r)
            for h, (s, k, r) in fraud.items()
        ],
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            None,
            {
                "merchant_fraud_7200_rate": 0.0,
                "merchant_fraud_14400_swipes_log": 0.0,
                "merchant_unknown": 1.0,
            },
        ),
        (
            record({2 * H: (9, 3, 1 / 3), 4 * H: (19, 3, 3 / 19)}),
            {
                "merchant_fraud_7200_rate": 1 / 3,
                "merchant_fraud_7200_known_log": float(np.log1p(3)),
                "merchant_fraud_14400_swipes_log": float(np.log1p(19)),
                "merchant_unknown": 0.0,
            },
        ),
        # A record from a job with other horizons: the missing window reads as zero, never an error.
        (record({2 * H: (4, 1, 0.25)}), {"merchant_fraud_7200_rate": 0.25, "merchant_fraud_14400_rate": 0.0}),
    ],
)
def test_inputs_from_a_record(given: MerchantFeatures | None, expected: dict[str, float]) -> None:
    out = merchant_inputs(given, CFG)
    assert list(out) == merchant_input_names(CFG)
    assert {k: out[k] for k in expected} == pytest.approx(expected)


def at(i: int, minutes: float, merchant: str = "m1") -> Swipe:
    details = swipe(i, seconds=minutes * 60, merchant=merchant)
    return Swipe(card_token=TOKEN, **details.model_dump())


def fraud_label(s: Swipe, reported_minutes: float) -> Label:
    return Label.of(s, is_fraud=True, scenario="test", reported_at=T0 + timedelta(minutes=reported_minutes))


#   hour          0         1         2         3         4
#   m1 swipes     a  b      c         d         e    f
#   label(a)                    ^ reported at 1:30
#   A swipe reads the record as of the merchant's previous event (what the stream published last):
#   for d (3:10) that is label(a) at 1:30, bucket 1, so its windows end at bucket 0 (one delay back).
def test_a_swipe_sees_only_labels_already_reported_and_never_its_own_bucket() -> None:
    a, b, c, d, e, f = at(1, 5), at(2, 20), at(3, 70), at(4, 190), at(5, 250), at(6, 255)
    labels = [fraud_label(a, 90), fraud_label(e, 256)]
    out = merchant_inputs_by_swipe([a, b, c, d, e, f], labels, CFG)
    assert out["s1"]["merchant_unknown"] == 1.0  # nothing before it
    assert out["s2"]["merchant_unknown"] == 0.0  # the stream had seen a
    # c at 1:10: label(a) not reported yet (1:30), and a's bucket is not yet a label delay old.
    assert out["s3"]["merchant_fraud_14400_known_log"] == 0.0
    # d: windows ending at bucket 0 hold a and b, and a's label is in: 1 known fraud in 2 swipes.
    assert out["s4"]["merchant_fraud_14400_rate"] == pytest.approx(1 / 2)
    assert out["s4"]["merchant_fraud_7200_rate"] == pytest.approx(1 / 2)
    # e (4:10) reads the record as of d (3:10, bucket 3): windows end at bucket 2, so c counts too.
    assert out["s5"]["merchant_fraud_14400_rate"] == pytest.approx(1 / 3)
    # f at 4:15 is after e (4:10) but before e's label (4:16): e's fraud does not count.
    assert out["s6"]["merchant_fraud_14400_known_log"] == out["s5"]["merchant_fraud_14400_known_log"]


def test_a_label_reported_later_changes_nothing_before_it() -> None:
    a, b, c = at(1, 5), at(2, 130), at(3, 200)
    early = merchant_inputs_by_swipe([a, b, c], [fraud_label(a, 150)], CFG)
    late = merchant_inputs_by_swipe([a, b, c], [fraud_label(a, 500)], CFG)
    assert early["s2"] == late["s2"]  # b at 2:10 comes before either report
    assert early["s3"] != late["s3"]  # c at 3:20 knows the label reported at 2:30, not the one at 8:20


def naive(swipes: list[Swipe], labels: list[Label], config: MerchantConfig) -> dict[str, dict[str, float]]:
    """One fold per event, the record as of the event before each swipe: what the stream publishes."""
    events: list[MerchantEvent] = [*swipes, *(lb for lb in labels if lb.is_fraud)]
    events.sort(key=lambda e: (arrival(e), isinstance(e, Swipe), e.swipe_id))
    states: dict[str, MerchantState] = {}
    out = {}
    for e in events:
        state = states.setdefault(e.merchant_id, MerchantState())
        if isinstance(e, Swipe):
            rec = features(e.merchant_id, state, config, state_time(state)) if state.events else None
            out[e.swipe_id] = merchant_inputs(rec, config)
        fold(state, [e], config)
    return out


def state_time(state: MerchantState) -> datetime:
    return datetime.fromtimestamp(state.as_of, UTC)


def test_the_lazy_replay_equals_one_fold_per_event_on_generated_traffic() -> None:
    rng = np.random.default_rng(5)
    pop = build_population(rng, b"k" * 32, PopulationConfig(cards=60, cards_per_pos_merchant=2.0))
    history = labeled_history(pop, T0, 5, rng, per_scenario=3)
    # Chargebacks within hours, so labels land inside the windows of this short history.
    labels = [lb for lb, _ in labels_for(history, rng, LabelDelay(median_days=0.3, legit_share=0.05))]
    config = MerchantConfig(volume_horizons_s=(H,), fraud_horizons_s=(6 * H, 24 * H), label_delay_s=2 * H)
    swipes = [ls.swipe for ls in history]
    lazy = merchant_inputs_by_swipe(swipes, labels, config)
    assert lazy == naive(swipes, labels, config)
    assert any(v["merchant_fraud_86400_known_log"] > 0 for v in lazy.values()), "some fraud must be known"
