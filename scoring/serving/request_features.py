"""Request-time features: the swipe against its card's streamed features and the scorer's lag cover.

Pure functions and an in-memory buffer; no I/O.

The streamed features arrive one micro-batch late. The lag cover closes that gap: the scorer keeps
the swipes it decided itself since the card's `as_of` and adds them to the streamed windows, so a
burst faster than the micro-batch is still counted:

    swipes      s1   s2   s3   s4   s5 (now, being scored)
    streamed    |-- folded --|            features.as_of = t(s3)
    lag cover                  s4         decided by us, event time > as_of: added
    window 10m  (t5 - 600 s, t5] = streamed count (if as_of is inside) + s4 + s5

Once the stream's `as_of` passes a buffered swipe, the buffer drops it: the stream now counts it.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from foundation.geometry import haversine_km, place_center
from streaming.card_state import FeatureConfig, profile_with
from streaming.schema import CardFeatures, SwipeDetails
from streaming.tiles import inputs_of

# Log-amount spread floor: a card that always spends the same amount would otherwise turn any other
# amount into an enormous z-score.
MIN_LOG_STD = 0.25
AMOUNT_Z_CLIP = 10.0
# Two swipes seconds apart at merchants a few km apart are geocoding noise, not teleportation: the
# speed is computed over at least a minute and only called impossible beyond a minimum distance.
MIN_TRAVEL_DT_S = 60.0
MIN_TRAVEL_KM = 100.0
IMPOSSIBLE_KMH = 1000.0  # faster than a commercial airliner


@dataclass(frozen=True, slots=True)
class DecidedSwipe:
    """A swipe the scorer decided, as the lag cover keeps it (about 200 bytes; strings are shared)."""

    swipe_id: str
    t: float  # event time, epoch seconds
    amount: float
    merchant_id: str
    mcc: str
    country: str
    lat: float | None
    lon: float | None
    channel: str
    denied: bool
    decided_at: float  # the scorer's wall clock, epoch seconds

    @classmethod
    def of(cls, swipe: SwipeDetails, *, denied: bool, decided_at: float) -> DecidedSwipe:
        return cls(
            swipe.swipe_id,
            swipe.event_time.timestamp(),
            swipe.amount,
            swipe.merchant_id,
            swipe.mcc,
            swipe.country,
            swipe.lat,
            swipe.lon,
            swipe.channel,
            denied,
            decided_at,
        )

    def tile_inputs(self) -> dict[str, Any]:
        """The swipe as the tiles' measures read it (`streaming.tiles.inputs_of`)."""
        return inputs_of(
            round(self.t * 1_000_000),
            self.swipe_id,
            self.amount,
            denied=self.denied,
            channel=self.channel,
            merchant_id=self.merchant_id,
            country=self.country,
            mcc=self.mcc,
            lat=self.lat,
            lon=self.lon,
        )


class LagCover:
    """Per-card buffer of the swipes the scorer decided that the stream has not folded yet.

    Bounded twice: at most `per_card` swipes per card (oldest dropped) and at most `max_cards` cards
    (least recently decided dropped). Not thread-safe: the app uses it from its event loop only.
    """

    def __init__(self, per_card: int = 32, max_cards: int = 200_000) -> None:
        self.per_card = per_card
        self.max_cards = max_cards
        self._cards: OrderedDict[str, deque[DecidedSwipe]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._cards)

    @property
    def swipes(self) -> int:
        return sum(len(q) for q in self._cards.values())

    def record(self, card_token: str, swipe: DecidedSwipe) -> bool:
        """Buffer a decided swipe; False when the card's buffer already holds that swipe (a retry)."""
        queue = self._cards.get(card_token)
        if queue is None:
            queue = self._cards[card_token] = deque(maxlen=self.per_card)
            if len(self._cards) > self.max_cards:
                self._cards.popitem(last=False)
        else:
            self._cards.move_to_end(card_token)
            if any(s.swipe_id == swipe.swipe_id for s in queue):
                return False  # a retried request must not count twice
        queue.append(swipe)
        return True

    def pending(self, card_token: str, as_of: float | None, retention_s: float) -> list[DecidedSwipe]:
        """The card's buffered swipes newer than `as_of`, by event time; drops the ones it passed."""
        queue = self._cards.get(card_token)
        if not queue:
            return []
        newest = max(s.t for s in queue)
        floor = newest - retention_s
        if as_of is not None:
            floor = max(floor, as_of)
        kept = [s for s in queue if s.t > floor]
        if len(kept) != len(queue):
            if kept:
                self._cards[card_token] = deque(kept, maxlen=self.per_card)
            else:
                del self._cards[card_token]
        return sorted(kept, key=lambda s: s.t)


def stale(pending: Sequence[DecidedSwipe], now: float, stale_after_s: float) -> bool:
    """True when a swipe we decided more than `stale_after_s` ago (wall clock) is still not folded."""
    return any(now - s.decided_at > stale_after_s for s in pending)


@dataclass(frozen=True, slots=True)
class WindowCount:
    """Swipes of the card in (t - horizon, t], the swipe being scored included."""

    horizon_s: int
    count: int
    amount_sum: float
    denied: int
    amount_max: float = 0.0
    amount: float = 0.0  # the swipe being scored

    @property
    def earlier_mean(self) -> float | None:
        """The mean amount of the card's other swipes in the window (None: this is its only one)."""
        return None if self.count <= 1 else max(self.amount_sum - self.amount, 0.0) / (self.count - 1)


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """What the scorer knows about one swipe at decision time."""

    amount: float
    amount_z: float
    channel: str
    history_swipes: int  # the card's swipes before this one that we know about
    seconds_since_last: float | None
    distance_km: float | None
    travel_kmh: float | None
    impossible_travel: bool
    home_distance_km: float | None  # from the card's in-person home; None if either place is unknown
    home_spread_km: float | None
    located_swipes: int
    place_distance_km: float | None  # to the nearest of the card's recent places (grid-cell centers)
    new_country: bool
    new_merchant: bool
    new_mcc: bool
    hour_share: float
    ecom_share: float | None
    windows: tuple[WindowCount, ...]
    lag_covered: int  # buffered swipes added to the streamed features

    def window(self, horizon_s: int) -> WindowCount | None:
        return next((w for w in self.windows if w.horizon_s == horizon_s), None)


def _travel(
    swipe: SwipeDetails,
    t: float,
    features: CardFeatures | None,
    as_of: float | None,
    extra: Sequence[DecidedSwipe],
) -> tuple[float | None, float | None, float | None, bool]:
    """Seconds since the card's last known swipe, the distance from it, the speed, and whether it is
    impossible."""
    # The last known swipe and its place: the stream's, unless we decided a newer one.
    last_t, last_lat, last_lon = None, None, None
    if features is not None:
        last_t, last_lat, last_lon = as_of, features.last_lat, features.last_lon
    if extra:
        last_t, last_lat, last_lon = extra[-1].t, extra[-1].lat, extra[-1].lon
    since_last = abs(t - last_t) if last_t is not None else None
    distance: float | None = None
    travel: float | None = None
    if last_lat is not None and last_lon is not None and swipe.lat is not None and swipe.lon is not None:
        distance = haversine_km(last_lat, last_lon, swipe.lat, swipe.lon)
        travel = distance / (max(since_last or 0.0, MIN_TRAVEL_DT_S) / 3600.0)
    impossible = (
        distance is not None and travel is not None and distance >= MIN_TRAVEL_KM and travel > IMPOSSIBLE_KMH
    )
    return since_last, distance, travel, impossible


def _windows(
    swipe: SwipeDetails,
    t: float,
    features: CardFeatures | None,
    as_of: float | None,
    extra: Sequence[DecidedSwipe],
    config: FeatureConfig,
) -> list[WindowCount]:
    """Each window: the swipe itself, the streamed window when its newest swipe is inside, the cover's."""
    windows = []
    this = swipe.amount
    # The streamed windows by horizon, looked up once: the first of a horizon, as CardFeatures.window.
    streamed = {w.horizon_s: w for w in reversed(features.windows)} if features is not None else {}
    for h in config.horizons_s:
        count, amount, denied, peak = 1, this, 0, this
        w = streamed.get(h)
        if w is not None and as_of is not None and as_of > t - h:
            count, amount, denied = count + w.count, amount + w.amount_sum, denied + w.denied
            peak = max(peak, w.amount_max)
        for p in extra:
            if p.t > t - h:
                count, amount, denied = count + 1, amount + p.amount, denied + p.denied
                peak = max(peak, p.amount)
        windows.append(WindowCount(h, count, round(amount, 6), denied, peak, this))
    return windows


def request_features(
    swipe: SwipeDetails,
    features: CardFeatures | None,
    pending: Sequence[DecidedSwipe],
    config: FeatureConfig,
) -> RequestFeatures:
    """Compare the swipe with the card's features (None: unknown or unusable) plus buffered swipes.

    Only buffered swipes newer than `features.as_of` and not newer than the swipe itself count, and
    never the swipe itself (a retried request). A streamed window counts when the card's newest
    folded swipe is inside the request's window: then its count is an upper bound of the swipes in
    (t - horizon, t], exact when no folded swipe left the window in between.
    """
    t = swipe.event_time.timestamp()
    as_of = features.as_of.timestamp() if features is not None else None
    extra = [
        p for p in pending if p.swipe_id != swipe.swipe_id and p.t <= t and (as_of is None or p.t > as_of)
    ]

    windows = _windows(swipe, t, features, as_of, extra, config)

    since_last, distance, travel, impossible = _travel(swipe, t, features, as_of, extra)

    profile = features.profile if features is not None else None
    if extra:
        # The stream's own profile step over the swipes it has not folded yet, so the lag cover
        # gives what a complete stream would.
        profile = profile_with(profile, (p.tile_inputs() for p in extra))
    n = profile.swipes if profile else 0
    places = set(profile.places) if profile else set()
    countries, merchants, mccs = (
        (profile.countries, profile.merchants, profile.mccs) if profile else ([], [], [])
    )
    hours = profile.hour_histogram if profile else [0] * 24
    amount_z = 0.0
    if profile and n > 1:
        std = max(profile.log_amount_std, MIN_LOG_STD)
        z = (math.log1p(swipe.amount) - profile.log_amount_mean) / std
        amount_z = max(-AMOUNT_Z_CLIP, min(AMOUNT_Z_CLIP, z))
    known = n > 0
    home_place = None
    if profile and profile.home_lat is not None and profile.home_lon is not None:
        home_place = (profile.home_lat, profile.home_lon, profile.home_spread_km or 0.0)
    home_distance = None
    if home_place is not None and swipe.lat is not None and swipe.lon is not None:
        home_distance = haversine_km(home_place[0], home_place[1], swipe.lat, swipe.lon)
    place_distance = None
    if places and swipe.lat is not None and swipe.lon is not None:
        lat, lon = swipe.lat, swipe.lon
        place_distance = min(haversine_km(*place_center(c), lat, lon) for c in places)
    return RequestFeatures(
        amount=swipe.amount,
        amount_z=amount_z,
        channel=swipe.channel,
        history_swipes=n,
        seconds_since_last=since_last,
        distance_km=distance,
        travel_kmh=travel,
        impossible_travel=impossible,
        home_distance_km=home_distance,
        home_spread_km=home_place[2] if home_place is not None else None,
        located_swipes=profile.located_swipes if profile else 0,
        place_distance_km=place_distance,
        new_country=known and swipe.country not in countries,
        new_merchant=known and swipe.merchant_id not in merchants,
        new_mcc=known and swipe.mcc not in mccs,
        # Laplace-smoothed share of the card's swipes at this UTC hour: 1/24 for an unknown card.
        hour_share=(hours[swipe.event_time.astimezone(UTC).hour] + 1) / (sum(hours) + 24),
        ecom_share=profile.ecom_share if profile and known else None,
        windows=tuple(windows),
        lag_covered=len(extra),
    )
