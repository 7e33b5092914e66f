"""The merchant's part of the model inputs: its known fraud rate, at serving and in training alike.

Serving reads the merchant's newest `MerchantFeatures` record from the online merchant table;
training replays the merchant fold (`streaming.merchant_state`) over swipes and labels in arrival
order and takes, for each swipe, the record the scorer would have held just before it: the one as
of the merchant's previous event. Both go through `merchant_inputs`, so they cannot drift apart.

The fraud windows end a label delay (at least one bucket) before the record's `as_of`, so a
swipe's own label, or any swipe of its own bucket, never reaches them. The volume windows are
inputs too: a fraud rate means more over many swipes, and a terminal suddenly busy is a signal.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from streaming.merchant_state import MerchantConfig, MerchantEvent, MerchantState, arrival, features, fold
from streaming.schema import Label, MerchantFeatures, Swipe

_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
MERCHANT_PREFIX = "merchant_"  # every merchant input starts with it, and no other input does


def merchant_input_names(config: MerchantConfig) -> list[str]:
    """Every name `merchant_inputs` produces under `config`, in a stable order."""
    names = [f"{MERCHANT_PREFIX}volume_{h}_log" for h in config.volume_horizons_s]
    for h in config.fraud_horizons_s:
        names += [f"{MERCHANT_PREFIX}fraud_{h}_{part}" for part in ("rate", "known_log", "swipes_log")]
    return [*names, f"{MERCHANT_PREFIX}unknown"]


def merchant_inputs(
    record: MerchantFeatures | None, config: MerchantConfig, unfolded: int = 0
) -> dict[str, float]:
    """The named inputs; a merchant with no record (new, or its topic not read yet): zeros + unknown.

    `unfolded` swipes of the record's newest bucket are not in it yet (the lazy replay below); they
    count in every volume window, which all end with that bucket.
    """
    out: dict[str, float] = {}
    for h in config.volume_horizons_s:
        volume = record.volume_window(h) if record is not None else None
        out[f"{MERCHANT_PREFIX}volume_{h}_log"] = math.log1p(volume.count + unfolded) if volume else 0.0
    for h in config.fraud_horizons_s:
        window = record.fraud_window(h) if record is not None else None
        out[f"{MERCHANT_PREFIX}fraud_{h}_rate"] = window.fraud_rate if window else 0.0
        out[f"{MERCHANT_PREFIX}fraud_{h}_known_log"] = math.log1p(window.fraud_known) if window else 0.0
        out[f"{MERCHANT_PREFIX}fraud_{h}_swipes_log"] = math.log1p(window.swipes) if window else 0.0
    out[f"{MERCHANT_PREFIX}unknown"] = float(record is None)
    return out


def merchant_inputs_by_swipe(
    swipes: Iterable[Swipe], labels: Iterable[Label], config: MerchantConfig
) -> dict[str, dict[str, float]]:
    """swipe_id -> the merchant inputs the scorer would have had for it, from earlier events only.

    Per merchant, events go in arrival order (a swipe at its event time, a label at `reported_at`;
    on a tie the label first, as it had arrived). Folding waits until the hour bucket changes or a
    label arrives: swipes of the current bucket cannot be in a fraud window (it ends a label delay,
    at least one bucket, earlier), so the features are exact and the fold runs once per busy hour,
    not once per swipe. A unit test holds this equal to one fold per event.
    """
    events: dict[str, list[tuple[datetime, int, str, MerchantEvent]]] = defaultdict(list)
    for s in swipes:
        events[s.merchant_id].append((s.event_time, 1, s.swipe_id, s))
    for label in labels:
        if label.is_fraud:
            events[label.merchant_id].append((arrival(label), 0, label.swipe_id, label))
    out: dict[str, dict[str, float]] = {}
    unknown = merchant_inputs(None, config)
    for merchant_id, merchant_events in events.items():
        merchant_events.sort(key=lambda e: (e[0], e[1], e[2]))
        state, record = MerchantState(), None
        pending: list[MerchantEvent] = []
        bucket, last_arrival = None, _NEVER
        for at, is_swipe, swipe_id, event in merchant_events:
            now_bucket = math.floor(at.timestamp() / config.bucket_s)
            if pending and (not is_swipe or now_bucket != bucket):
                fold(state, pending, config)
                pending.clear()
                record = None
            if not is_swipe:
                fold(state, [event], config)  # a label changes the fraud windows at once
            elif state.events == 0 and not pending:
                out[swipe_id] = unknown
            elif state.events == 0:
                # Only swipes of this bucket so far: fold a copy of them, as the stream would have.
                copy = fold(MerchantState(), list(pending), config)
                out[swipe_id] = merchant_inputs(
                    _record_before(merchant_id, copy, config, last_arrival), config
                )
            else:
                # The record as of the previous event; its windows move only with that event's
                # bucket (or a new label, which resets it above). The swipes of that bucket not
                # folded yet count in its volume windows.
                if record is None or math.floor(record.as_of.timestamp() / config.bucket_s) != bucket:
                    record = _record_before(merchant_id, state, config, last_arrival)
                out[swipe_id] = merchant_inputs(record, config, unfolded=len(pending))
            if is_swipe:
                pending.append(event)
            bucket, last_arrival = now_bucket, at
    return out


def _record_before(
    merchant_id: str, state: MerchantState, config: MerchantConfig, last_arrival: datetime
) -> MerchantFeatures:
    """The record as of the previous event, which is what the stream would have published last."""
    return features(merchant_id, state, config, computed_at=last_arrival, as_of=last_arrival)
