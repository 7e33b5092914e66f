"""Per-merchant feature state: time buckets of swipes and known fraud, and the pure fold over them.

This is the one definition of the merchant features. The Spark job runs it per merchant inside
`applyInPandasWithState` (streaming) and `applyInPandas` (batch recomputation); no I/O here.

Two kinds of event reach a merchant, each at the time it became known:

    a swipe        at its event time: it adds to the bucket of its event time;
    a fraud label  at its `reported_at`: it marks its swipe (bucket of the swipe's event time)
                   as known fraud from `reported_at` on. Labels that say "not fraud" add nothing.

Time is cut into buckets of `bucket_s` (1 h by default), so a busy merchant's state stays bounded:
at most (label delay + longest fraud horizon) / bucket_s buckets. A window is whole buckets,
the one holding `as_of` (t) and those before it:

    buckets (1 h)     | h-3 | h-2 | h-1 |  h  |
    volume 3h                           |  t      <- the 3 buckets ending with t's: (h-2 .. h]
    fraud 2h, delay D |<-- 2h -->|<-------- D -------->|
                      (t_b - D - 2h,  t_b - D]         t_b = t's bucket

The fraud rate over W at t is known fraud / all swipes among the merchant's swipes in the
W-wide window that ends a label delay D before t (the "delay period": chargebacks take days, so
recent swipes would look clean only because their labels are not in yet). A label counts only if
`reported_at <= t`: a label that arrives after t never changes a feature as of t. Because D is at
least one bucket, a swipe's own label can never count in the features as of that swipe's time.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise

from foundation.settings import (
    DEFAULT_LABEL_DELAY_S,
    DEFAULT_MERCHANT_BUCKET_S,
    DEFAULT_MERCHANT_FRAUD_HORIZONS_S,
    DEFAULT_MERCHANT_VOLUME_HORIZONS_S,
)
from streaming.schema import Label, MerchantFeatures, MerchantFraud, MerchantVolume, Swipe

MerchantEvent = Swipe | Label


@dataclass(frozen=True)
class MerchantConfig:
    """Volume and fraud-rate horizons, the label delay and the bucket size, in seconds.

    Every horizon and the delay are whole buckets; the delay is at least one bucket, which is what
    keeps a swipe's own label out of its features.
    """

    volume_horizons_s: tuple[int, ...] = DEFAULT_MERCHANT_VOLUME_HORIZONS_S
    fraud_horizons_s: tuple[int, ...] = DEFAULT_MERCHANT_FRAUD_HORIZONS_S
    label_delay_s: int = DEFAULT_LABEL_DELAY_S
    bucket_s: int = DEFAULT_MERCHANT_BUCKET_S

    def __post_init__(self) -> None:
        b = self.bucket_s
        if b <= 0:
            raise ValueError(f"merchant bucket must be positive seconds, got {b}")
        for name in ("volume_horizons_s", "fraud_horizons_s"):
            horizons = getattr(self, name)
            if not horizons or any(h <= 0 or h % b for h in horizons):
                raise ValueError(f"merchant {name} must be whole {b} s buckets, got {horizons}")
        if self.label_delay_s < b or self.label_delay_s % b:
            raise ValueError(
                f"merchant label delay must be at least one bucket and whole buckets of {b} s, "
                f"got {self.label_delay_s}"
            )

    @property
    def retention_s(self) -> int:
        """How far before the newest swipe the state keeps buckets and labels."""
        return max(max(self.volume_horizons_s), self.label_delay_s + max(self.fraud_horizons_s))


DEFAULT_MERCHANT = MerchantConfig()


@dataclass
class MerchantBucket:
    start: int  # epoch seconds, a multiple of bucket_s: the bucket holds [start, start + bucket_s)
    swipes: int = 0
    amount: float = 0.0


@dataclass
class KnownFraud:
    swipe_id: str
    t: float  # the swipe's event time, epoch seconds
    reported: float  # when the label arrived, epoch seconds


@dataclass
class MerchantState:
    """Everything the fold needs about one merchant. Plain fields, so Spark can store it as a row."""

    buckets: list[MerchantBucket] = field(default_factory=list)  # by start
    frauds: list[KnownFraud] = field(default_factory=list)  # one per swipe, earliest report kept
    as_of: float = 0.0  # the newest event folded: a swipe's event time or a label's reported_at
    last_swipe_t: float | None = None
    events: int = 0  # swipes and new fraud labels folded; a batch that adds none changes nothing


def arrival(event: MerchantEvent) -> datetime:
    """When an event became known: a swipe at its event time, a label at its `reported_at`."""
    return event.reported_at if isinstance(event, Label) else event.event_time


def _index(t: float, bucket_s: int) -> int:
    return math.floor(t / bucket_s)


def _anchor(state: MerchantState) -> float | None:
    # Retention runs from the newest swipe: every as_of a feature may be asked for (see features)
    # is at or after it, so nothing it can need is dropped. With no swipe yet, from the newest label.
    return state.last_swipe_t if state.last_swipe_t is not None else (state.as_of if state.events else None)


def _oldest_kept(state: MerchantState, config: MerchantConfig) -> int | None:
    """The oldest bucket index the state keeps, or None when it keeps everything (nothing folded)."""
    anchor = _anchor(state)
    if anchor is None:
        return None
    return _index(anchor, config.bucket_s) - config.retention_s // config.bucket_s + 1


def fold(state: MerchantState, events: Iterable[MerchantEvent], config: MerchantConfig) -> MerchantState:
    """Fold swipes and labels into the state in arrival order; mutates and returns `state`.

    A fraud label already folded for the same swipe is not counted again (the earliest report
    wins); events older than the retention are ignored; labels that say "not fraud" are skipped.
    """
    b = config.bucket_s
    by_start = {bucket.start: bucket for bucket in state.buckets}
    known = {f.swipe_id: f for f in state.frauds}
    for event in sorted(events, key=lambda e: (arrival(e), e.swipe_id)):
        if isinstance(event, Label) and not event.is_fraud:
            continue
        arrived = arrival(event).timestamp()
        t = event.event_time.timestamp()
        oldest = _oldest_kept(state, config)
        if oldest is not None and _index(t, b) < oldest:
            continue
        if isinstance(event, Label):
            seen = known.get(event.swipe_id)
            if seen is not None:
                seen.reported = min(seen.reported, arrived)
                continue
            known[event.swipe_id] = KnownFraud(event.swipe_id, t, arrived)
        else:
            start = _index(t, b) * b
            bucket = by_start.get(start)
            if bucket is None:
                bucket = by_start[start] = MerchantBucket(start)
            bucket.swipes += 1
            # Rounded at every step, so the sum does not depend on the order swipes arrived in.
            bucket.amount = round(bucket.amount + event.amount, 6)
            state.last_swipe_t = t if state.last_swipe_t is None else max(state.last_swipe_t, t)
        state.events += 1
        state.as_of = max(state.as_of, arrived)
    oldest = _oldest_kept(state, config)
    state.buckets = sorted(
        (bk for bk in by_start.values() if oldest is None or bk.start // b >= oldest), key=lambda bk: bk.start
    )
    state.frauds = sorted(
        (f for f in known.values() if oldest is None or _index(f.t, b) >= oldest),
        key=lambda f: (f.t, f.swipe_id),
    )
    return state


def _in_span(index: int, end: int, horizon_s: int, bucket_s: int) -> bool:
    """Whether a bucket index is among the `horizon_s / bucket_s` buckets ending with `end`."""
    return end - horizon_s // bucket_s < index <= end


def features(
    merchant_id: str,
    state: MerchantState,
    config: MerchantConfig,
    computed_at: datetime,
    as_of: datetime | None = None,
) -> MerchantFeatures:
    """The merchant's features as of `as_of` (default: the newest event folded).

    `as_of` may be earlier than labels already folded (they are left out until reported), but not
    earlier than the newest swipe: volumes are kept per bucket, not per swipe.
    """
    if state.events == 0:
        raise ValueError("nothing folded yet: a merchant without swipes or labels has no features")
    t = state.as_of if as_of is None else as_of.timestamp()
    if state.last_swipe_t is not None and t < state.last_swipe_t:
        raise ValueError(
            f"as_of {as_of} is before the newest swipe folded; compute features before folding later swipes"
        )
    b = config.bucket_s
    now = _index(t, b)
    buckets = state.buckets
    indexes = [bk.start // b for bk in buckets]
    if any(i >= j for i, j in pairwise(indexes)):  # a state built elsewhere
        buckets = sorted(buckets, key=lambda bk: bk.start)
        indexes = [bk.start // b for bk in buckets]

    def span(end: int, horizon_s: int) -> list[MerchantBucket]:
        # The buckets among the `horizon_s / b` ending with `end`, by start (what `_in_span` keeps).
        return buckets[bisect_right(indexes, end - horizon_s // b) : bisect_right(indexes, end)]

    volume = []
    for h in config.volume_horizons_s:
        inside = span(now, h)
        volume.append(
            MerchantVolume(
                horizon_s=h,
                count=sum(bk.swipes for bk in inside),
                amount_sum=round(sum(bk.amount for bk in inside), 6),
            )
        )
    end = now - config.label_delay_s // b
    fraud = []
    for h in config.fraud_horizons_s:
        swipes = sum(bk.swipes for bk in span(end, h))
        known = sum(1 for f in state.frauds if f.reported <= t and _in_span(_index(f.t, b), end, h, b))
        # A label whose swipe the stream never folded (dropped as late) could outnumber the swipes.
        rate = min(1.0, known / swipes) if swipes else 0.0
        fraud.append(MerchantFraud(horizon_s=h, swipes=swipes, fraud_known=known, fraud_rate=round(rate, 9)))
    return MerchantFeatures(
        merchant_id=merchant_id,
        as_of=datetime.fromtimestamp(t, UTC),
        # Labels folded but reported after t are not part of the merchant's history as of t.
        events=state.events - sum(1 for f in state.frauds if f.reported > t),
        computed_at=computed_at,
        bucket_s=b,
        label_delay_s=config.label_delay_s,
        volume=volume,
        fraud=fraud,
    )
