"""The point-in-time training set: which labels were known when training ran, which swipes had settled.

A label is a chargeback: it arrives `reported_at`, often days after the swipe. Training as of a
moment `as_of` may only use what was known then:

    swipes (event time)   a ........ b ........ c ........ d .......|
    fraud labels (arrive)                  L(a)                 L(c) |   L(d) after as_of: unknown
    train window          [start ---------------------------- end)
    settled before        |<------ usable ------>| as_of - label_delay   as_of
                                                 ^ c, d are too young: their chargebacks may not
                                                   have arrived yet, so they are not examples

- a swipe is an example only if its event time is in `[start, end)` and before
  `as_of - label_delay` (its label has had time to settle);
- it is fraud if a fraud label for it was reported by `as_of`, legitimate otherwise;
- every swipe, example or not (including the warm-up before `start`), still goes through the
  card fold in event-time order, so each example's features are the card's state just before it,
  exactly as the scorer saw it (`scoring.training.fit.labeled_rows`). Labels never enter features.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scoring.serving.merchant_inputs import merchant_inputs_by_swipe
from scoring.training.fit import LabeledRow, labeled_rows
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig
from streaming.schema import Label, Swipe


@dataclass(frozen=True)
class LabelCutoff:
    """Training runs at `as_of`; a chargeback can take up to `label_delay` to arrive."""

    as_of: datetime
    label_delay: timedelta

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware (UTC)")
        if self.label_delay < timedelta(0):
            raise ValueError("label_delay must not be negative")

    @property
    def settled_before(self) -> datetime:
        """Swipes at or after this moment have no settled label yet."""
        return self.as_of - self.label_delay


@dataclass(frozen=True)
class TrainingWindow:
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("the training window's bounds must be timezone-aware (UTC)")
        if self.start >= self.end:
            raise ValueError(f"the training window is empty: start {self.start} is not before end {self.end}")

    def usable_end(self, cutoff: LabelCutoff) -> datetime:
        return min(self.end, cutoff.settled_before)


def known_fraud(labels: Iterable[Label], cutoff: LabelCutoff) -> set[str]:
    """Ids of the swipes a fraud label had been reported for by `cutoff.as_of`."""
    return {label.swipe_id for label in labels if label.is_fraud and label.reported_at <= cutoff.as_of}


def training_rows(
    swipes: Sequence[Swipe],
    labels: Iterable[Label],
    window: TrainingWindow,
    cutoff: LabelCutoff,
    config: FeatureConfig,
    merchant: MerchantConfig | None = None,
) -> list[LabeledRow]:
    """The examples of `window` as of `cutoff`, in event-time order, each with point-in-time features.

    `swipes` should start early enough before `window.start` to warm the card state up (the longest
    horizon at least); swipes before `window.start` shape the features but are not examples. With
    `merchant`, each row also gets its merchant inputs, from the labels that had arrived before it.
    """
    labels = list(labels)
    fraud = known_fraud(labels, cutoff)
    end = window.usable_end(cutoff)
    if end <= window.start:
        fmt = "%Y-%m-%d %H:%M"
        raise ValueError(
            f"no swipe in the training window has a settled label: the window starts "
            f"{window.start:{fmt}}, but as of {cutoff.as_of:{fmt}} with a label delay of "
            f"{cutoff.label_delay} only swipes before {cutoff.settled_before:{fmt}} have settled. "
            f"Train on an earlier window or with a shorter --label-delay."
        )
    unique = list(_once(swipes))
    by_swipe = None
    if merchant is not None:
        # Known at the time of each swipe (arrival order), never later: not only those known at as_of.
        by_swipe = merchant_inputs_by_swipe(
            unique, [lb for lb in labels if lb.reported_at <= cutoff.as_of], merchant
        )
    pairs = ((swipe, swipe.swipe_id in fraud) for swipe in unique)
    return [row for row in labeled_rows(pairs, config, by_swipe) if window.start <= row.t < end]


def _once(swipes: Iterable[Swipe]) -> Iterable[Swipe]:
    """Each swipe id once: a history table may hold a swipe that was published twice."""
    seen: set[str] = set()
    for swipe in swipes:
        if swipe.swipe_id not in seen:
            seen.add(swipe.swipe_id)
            yield swipe
