"""The per-merchant fold as tables: bucketed volume windows, delayed fraud rates, label leakage."""

from __future__ import annotations

import pytest

from streaming.merchant_state import MerchantConfig, MerchantEvent, MerchantState, features, fold
from tests.unit.streaming.merchant_builders import CFG, MERCHANT, T0, H, at, fraud, sw


def run(*events: MerchantEvent, as_of: float | None = None) -> dict[str, object]:
    state = fold(MerchantState(), events, CFG)
    f = features(MERCHANT, state, CFG, computed_at=T0, as_of=None if as_of is None else at(as_of))
    v1, v3 = f.volume
    (f2,) = f.fraud
    return {
        "as_of_h": (f.as_of - T0).total_seconds() / H,
        "n1": v1.count,
        "sum1": v1.amount_sum,
        "n3": v3.count,
        "sum3": v3.amount_sum,
        "swipes": f2.swipes,
        "known": f2.fraud_known,
        "rate": f2.fraud_rate,
    }


def pick(got: dict[str, object], expected: dict[str, object]) -> dict[str, object]:
    return {k: got[k] for k in expected}


# Volume timeline (hours after 09:00, one bucket per hour); windows are whole buckets ending with
# the bucket of as_of:
#
#   bucket   0      1      2      3      4
#            s1     s2 s3         s4
#   as_of=3.5                     |t     volume 1h = bucket 3 only; 3h = buckets 1..3
@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([sw(1, 0.5)], {"as_of_h": 0.5, "n1": 1, "sum1": 10.0, "n3": 1}),
        ([sw(1, 0.5), sw(2, 1.0), sw(3, 1.9, 5.5)], {"as_of_h": 1.9, "n1": 2, "sum1": 15.5, "n3": 3}),
        (
            [sw(1, 0.5), sw(2, 1.0), sw(3, 1.9, 5.5), sw(4, 3.5)],
            {"n1": 1, "sum1": 10.0, "n3": 3, "sum3": 25.5},
        ),
        # amounts summed with rounding at every step: 0.1 + 0.2 is 0.3, in any order
        ([sw(1, 0.1, 0.1), sw(2, 0.2, 0.2)], {"sum1": 0.3}),
        ([sw(2, 0.2, 0.2), sw(1, 0.1, 0.1)], {"sum1": 0.3}),
        # late swipe (older than the newest) lands in its own bucket; as_of does not move back
        ([sw(4, 3.5), sw(1, 0.5)], {"as_of_h": 3.5, "n1": 1, "n3": 1}),
        ([sw(4, 3.5), sw(2, 1.5)], {"as_of_h": 3.5, "n1": 1, "n3": 2}),
    ],
)
def test_volume_windows_are_whole_buckets_ending_with_as_of(
    events: list[MerchantEvent], expected: dict[str, object]
) -> None:
    assert pick(run(*events), expected) == expected


# Fraud timeline, delay D = 2 h, fraud horizon W = 2 h; as_of t = 5.5 h, in bucket 5:
#
#   bucket    0      1      2      3      4      5
#             s1     s2     s3                   s4  t
#                        |<---- W ---->|<----- D ----->|
#   fraud window = the W buckets ending D before t's bucket: buckets 2 and 3. s3 is inside;
#   s1 and s2 are older, s4 too recent for its label to be in yet.
@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # no label: the rate's denominator is every swipe of the delayed window
        ([sw(1, 0.5), sw(2, 1.5), sw(3, 2.5), sw(4, 5.5)], {"swipes": 1, "known": 0, "rate": 0.0}),
        # s3's label, reported before t: counts
        (
            [sw(1, 0.5), sw(2, 1.5), sw(3, 2.5), sw(4, 5.5), fraud(3, 2.5, 4.0)],
            {"swipes": 1, "known": 1, "rate": 1.0},
        ),
        # s2's label: s2 is before the window, so it does not count even though it is known
        ([sw(1, 0.5), sw(2, 1.5), sw(3, 2.5), sw(4, 5.5), fraud(2, 1.5, 4.0)], {"swipes": 1, "known": 0}),
        # a "not fraud" label adds nothing
        ([sw(3, 2.5), sw(4, 5.5), fraud(3, 2.5, 4.0, is_fraud=False)], {"swipes": 1, "known": 0}),
        # the same chargeback twice counts once
        (
            [sw(3, 2.5), sw(5, 3.2), sw(4, 5.5), fraud(3, 2.5, 4.0), fraud(3, 2.5, 4.5)],
            {"swipes": 2, "known": 1, "rate": 0.5},
        ),
        # a label with no swipe seen (dropped as late) cannot push the rate above 1
        ([sw(4, 5.5), fraud(3, 2.5, 4.0), fraud(5, 3.5, 4.0)], {"swipes": 0, "known": 2, "rate": 0.0}),
        (
            [sw(3, 2.5), sw(4, 5.5), fraud(3, 2.5, 4.0), fraud(5, 3.5, 4.0)],
            {"swipes": 1, "known": 2, "rate": 1.0},
        ),
    ],
)
def test_fraud_rate_over_the_window_a_label_delay_before_as_of(
    events: list[MerchantEvent], expected: dict[str, object]
) -> None:
    assert pick(run(*events), expected) == expected


# Leakage: s3 at 2.5 h, its chargeback reported at 5.75 h; features as of t, all in bucket 5 so
# the fraud window (buckets 2..3) holds s3 every time; only the report time decides:
#
#   hour      2.5          5.0       5.75
#             s3           s4        label reported
#   t =                    5.0  5.74 5.75
#   known =                0    0    1
@pytest.mark.parametrize(("as_of", "known"), [(5.0, 0), (5.74, 0), (5.75, 1), (5.99, 1)])
def test_a_label_counts_from_its_report_and_never_before(as_of: float, known: int) -> None:
    got = run(sw(3, 2.5), sw(4, 5.0), fraud(3, 2.5, 5.75), as_of=as_of)
    assert (got["swipes"], got["known"]) == (1, known)


def test_folding_a_later_label_does_not_change_the_features_as_of_an_earlier_time() -> None:
    swipes = [sw(1, 0.5), sw(3, 2.5), sw(4, 5.5)]
    without = fold(MerchantState(), swipes, CFG)
    with_late_label = fold(fold(MerchantState(), swipes, CFG), [fraud(3, 2.5, 7.0)], CFG)
    for t in (5.5, 5.9, 6.9):
        a = features(MERCHANT, without, CFG, computed_at=T0, as_of=at(t))
        b = features(MERCHANT, with_late_label, CFG, computed_at=T0, as_of=at(t))
        assert a == b
    assert features(MERCHANT, with_late_label, CFG, computed_at=T0).as_of == at(7.0)


# A swipe's own label, even reported at the swipe's own time (a file replay does that), is at
# least one bucket behind the fraud window at that time:
#
#   hour     0      1      2      3
#            s1 (label reported at 0.0)
#   t=0:     window ends D = 2 buckets before bucket 0 -> s1 is not in it
#   t=2.0:   window = buckets -1..0 -> s1 counts
@pytest.mark.parametrize(
    ("as_of", "swipes", "known"), [(0.0, 0, 0), (1.99, 0, 0), (2.0, 1, 1), (3.99, 1, 1), (4.0, 0, 0)]
)
def test_a_swipes_own_label_never_counts_at_its_time(as_of: float, swipes: int, known: int) -> None:
    got = run(sw(1, 0.0), fraud(1, 0.0, 0.0), as_of=as_of)
    assert (got["swipes"], got["known"]) == (swipes, known)


def test_features_refuse_an_as_of_before_the_newest_swipe() -> None:
    state = fold(MerchantState(), [sw(1, 2.0)], CFG)
    with pytest.raises(ValueError, match="before the newest swipe"):
        features(MERCHANT, state, CFG, computed_at=T0, as_of=at(1.0))
    with pytest.raises(ValueError, match="nothing folded"):
        features(MERCHANT, MerchantState(), CFG, computed_at=T0)


def test_state_keeps_only_the_delay_plus_the_longest_horizon() -> None:
    # retention = max(3 h volume, 2 h delay + 2 h fraud) = 4 h: from bucket 10, buckets 7..10 stay
    state = fold(
        MerchantState(), [sw(i, float(i)) for i in range(11)] + [fraud(2, 2.0, 3.0), fraud(8, 8.0, 9.0)], CFG
    )
    assert [b.start for b in state.buckets] == [int(at(h).timestamp()) for h in (7, 8, 9, 10)]
    assert [f.swipe_id for f in state.frauds] == ["s8"]
    # too old to matter: a swipe and a label behind the retention are not folded at all
    before = state.events
    fold(state, [sw(99, 1.0), fraud(3, 3.0, 10.5)], CFG)
    assert (state.events, len(state.buckets), len(state.frauds)) == (before, 4, 1)


def test_folding_in_pieces_equals_folding_at_once() -> None:
    # swipes every 0.4 h up to 4.4 h (as_of: the repeated label moves nothing); fraud window: buckets 1..2
    events: list[MerchantEvent] = [sw(i, i * 0.4, 1.0 + i) for i in range(12)]
    events += [fraud(3, 1.2, 3.0), fraud(5, 2.0, 4.0), fraud(5, 2.0, 4.5)]
    whole = fold(MerchantState(), events, CFG)
    pieces = MerchantState()
    for event in sorted(events, key=lambda e: e.swipe_id):  # not in arrival order
        fold(pieces, [event], CFG)
    expected = features(MERCHANT, whole, CFG, computed_at=T0)
    # `events` aside: in order, s2 (bucket 0) counted before it aged out; in pieces it came after
    # s10 and s11 and was already too old to fold.
    got = features(MERCHANT, pieces, CFG, computed_at=T0)
    assert got.model_dump(exclude={"events"}) == expected.model_dump(exclude={"events"})
    assert (expected.events, got.events) == (14, 13)
    assert (expected.as_of, expected.fraud[0].swipes, expected.fraud[0].fraud_known) == (at(4.4), 5, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bucket_s": 0},
        {"volume_horizons_s": (1800,)},
        {"fraud_horizons_s": ()},
        {"label_delay_s": 0},
        {"label_delay_s": 5400},
    ],
)
def test_config_refuses_windows_that_are_not_whole_buckets(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="merchant"):
        MerchantConfig(**kwargs)  # type: ignore[arg-type]
