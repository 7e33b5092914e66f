"""The model's input vector: named floats from the request-time features, by the swipe field they need.

Every input needs the card, the amount and the time. Some need more of the swipe: its position, its
country, its MCC, its channel, its merchant (`SWIPE_FIELDS`). A file or stream without one of those
trains a model without the inputs that read it (`input_names(..., fields=...)`), never with
constant stand-ins, and the artifact records the fields it reads (`ModelArtifact.swipe_fields`).
`model_inputs` always computes everything; the model picks its names. No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from functools import cache

from scoring.serving.merchant_inputs import merchant_input_names
from scoring.serving.request_features import RequestFeatures
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig
from streaming.schema import CardFeatures, Swipe

# The optional parts of a swipe; card, amount and time are always there.
SWIPE_FIELDS: tuple[str, ...] = ("merchant", "mcc", "country", "channel", "position")

# Inputs that read an optional field, by field (merchant inputs: `merchant_input_names`).
FIELD_INPUTS: dict[str, tuple[str, ...]] = {
    "position": (
        "distance_km_log",
        "travel_kmh_log",
        "location_unknown",
        "impossible_travel",
        "home_distance_km_log",
        "home_spread_km_log",
        "home_unknown",
        "place_distance_km_log",
    ),
    "country": ("new_country",),
    "merchant": ("new_merchant",),
    "mcc": ("new_mcc",),
    "channel": ("channel_ecom", "channel_atm", "channel_rarity"),
}
# Card-only inputs after the windows, in order; the field inputs slot in where `_ORDER` puts them.
_ORDER: tuple[str, ...] = (
    "since_last_log",
    "last_unknown",
    *FIELD_INPUTS["position"],
    *FIELD_INPUTS["country"],
    *FIELD_INPUTS["merchant"],
    *FIELD_INPUTS["mcc"],
    "hour_share",
    *FIELD_INPUTS["channel"],
    "history_log",
    "card_unknown",
)
WINDOW_PARTS = ("count", "amount_log", "denied", "amount_max_log", "amount_mean_log", "amount_vs_mean")


def check_fields(fields: Iterable[str]) -> tuple[str, ...]:
    """The fields in `SWIPE_FIELDS` order; ValueError naming an unknown one."""
    given = set(fields)
    unknown = sorted(given - set(SWIPE_FIELDS))
    if unknown:
        raise ValueError(f"unknown swipe field(s) {unknown}; known: {', '.join(SWIPE_FIELDS)}")
    return tuple(f for f in SWIPE_FIELDS if f in given)


@cache
def window_input_names(horizon_s: int) -> tuple[str, ...]:
    """The inputs of the window of `horizon_s`, in WINDOW_PARTS order (built once per horizon)."""
    return tuple(f"velocity_{horizon_s}_{part}" for part in WINDOW_PARTS)


def input_names(
    config: FeatureConfig,
    merchant: MerchantConfig | None = None,
    fields: Collection[str] = SWIPE_FIELDS,
) -> list[str]:
    """Every name `model_inputs` produces under `config` that the swipe `fields` feed, in a stable order.

    With `merchant` (and the merchant field), the merchant inputs of `scoring.serving.merchant_inputs`
    follow (models trained with them need the scorer's merchant table).
    """
    fields = check_fields(fields)
    absent = {name for f, names in FIELD_INPUTS.items() if f not in fields for name in names}
    names = ["amount_log", "amount_z"]
    for h in config.horizons_s:
        names += window_input_names(h)
    names += [n for n in _ORDER if n not in absent]
    if merchant is not None and "merchant" in fields:
        names += merchant_input_names(merchant)
    return names


def present_fields(swipes: Iterable[Swipe]) -> tuple[str, ...]:
    """The optional fields these swipes carry: a position somewhere, or more than one value.

    A field that takes one value only (a file's default, "ZZ" for every country) says nothing
    about any swipe, so it counts as absent.
    """
    values: dict[str, set[str]] = {f: set() for f in SWIPE_FIELDS if f != "position"}
    located = False
    for s in swipes:
        located = located or (s.lat is not None and s.lon is not None)
        for f, value in (
            ("merchant", s.merchant_id),
            ("mcc", s.mcc),
            ("country", s.country),
            ("channel", s.channel),
        ):
            if len(values[f]) < 2:
                values[f].add(value)
    return check_fields([*(f for f, v in values.items() if len(v) > 1), *(["position"] if located else [])])


def model_inputs(features: CardFeatures | None, rf: RequestFeatures) -> dict[str, float]:
    """The named model inputs. Unknown quantities are 0 plus an `*_unknown` indicator.

    Everything comes from `rf`, which already merged `features` (the card's streamed features, None
    when missing or set aside as stale) with the lag cover; `features` is taken for the signature's
    sake and for inputs that may only exist in the stream later.
    """
    amount_log = math.log1p(rf.amount)
    out: dict[str, float] = {"amount_log": amount_log, "amount_z": rf.amount_z}
    for w in rf.windows:
        count, amount, denied, amount_max, amount_mean, vs_mean = window_input_names(w.horizon_s)
        out[count] = float(w.count)
        out[amount] = math.log1p(w.amount_sum)
        out[denied] = float(w.denied)
        out[amount_max] = math.log1p(w.amount_max)
        out[amount_mean] = math.log1p(w.amount_sum / w.count) if w.count else 0.0
        # The amount against the card's own other swipes of the window, in log terms; 0 with none.
        earlier = w.earlier_mean
        out[vs_mean] = amount_log - math.log1p(earlier) if earlier is not None else 0.0
    if rf.ecom_share is None:
        rarity = 0.0
    else:
        rarity = 1.0 - (rf.ecom_share if rf.channel == "ecom" else 1.0 - rf.ecom_share)
    out.update(
        since_last_log=_log1p_or_zero(rf.seconds_since_last),
        last_unknown=float(rf.seconds_since_last is None),
        distance_km_log=_log1p_or_zero(rf.distance_km),
        travel_kmh_log=_log1p_or_zero(rf.travel_kmh),
        location_unknown=float(rf.distance_km is None),
        impossible_travel=float(rf.impossible_travel),
        home_distance_km_log=_log1p_or_zero(rf.home_distance_km),
        home_spread_km_log=_log1p_or_zero(rf.home_spread_km),
        home_unknown=float(rf.home_distance_km is None),
        place_distance_km_log=_log1p_or_zero(rf.place_distance_km),
        new_country=float(rf.new_country),
        new_merchant=float(rf.new_merchant),
        new_mcc=float(rf.new_mcc),
        hour_share=rf.hour_share,
        channel_ecom=float(rf.channel == "ecom"),
        channel_atm=float(rf.channel == "atm"),
        channel_rarity=rarity,
        history_log=math.log1p(rf.history_swipes),
        # Not "features is None": a new card whose earlier swipes sit in the lag cover is known, just
        # as training (a complete stream) knows it.
        card_unknown=float(rf.history_swipes == 0),
    )
    return out


def _log1p_or_zero(value: float | None) -> float:
    return math.log1p(value) if value is not None else 0.0
