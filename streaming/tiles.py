"""The card tile, defined once: what a swipe contributes, and how each partial aggregate combines.

A tile holds mergeable partial aggregates of one card's swipes in one span of time: a minute, an
hour or a day (`GRAINS_S`). Each swipe lands in one tile of every grain:

    event time   09:41:07
    minute tile  [09:41, 09:42)      grain 60
    hour tile    [09:00, 10:00)      grain 3600
    day tile     [00:00, 24:00)      grain 86400

`MEASURES` is the one definition: per tile field, the swipe input it reads (`swipe_inputs`) and how
it aggregates (`kind`). Three interpreters run it and are held equal by tests:
- `Tile.add` here, pure Python (the backtest, training, the scorer's merge, the replay);
- `streaming.tile_spark`, as native Spark aggregate expressions (backfill, the `sql` engine);
- the Java `TileProcessor` of streaming/jvm, fed `measure_spec()` (the streaming job's default).

Every kind merges exactly (a sum of sums, the max of maxes, a union of sets), so trailing windows,
the live session and the profile are merged from tiles by `streaming.card_state`. No I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from foundation.geometry import place_of, unit_vector
from streaming.schema import CardTile, Swipe, TileSeen

GRAINS_S: tuple[int, ...] = (60, 3600, 86400)
_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Kind = Literal["count", "sum", "max", "min", "last", "set"]


@dataclass(frozen=True)
class Measure:
    """One tile field: `kind` of aggregation over the swipe input `source`."""

    name: str
    kind: Kind
    source: str


MEASURES: tuple[Measure, ...] = (
    Measure("count", "count", "one"),
    Measure("amount_sum", "sum", "amount"),
    Measure("amount_max", "max", "amount"),
    Measure("log_amount_sum", "sum", "log_amount"),
    Measure("log_amount_sq", "sum", "log_amount_sq"),
    Measure("denied", "sum", "is_denied"),
    Measure("ecom", "sum", "is_ecom"),
    Measure("located", "sum", "is_located"),
    Measure("home_x", "sum", "unit_x"),
    Measure("home_y", "sum", "unit_y"),
    Measure("home_z", "sum", "unit_z"),
    Measure("first_us", "min", "event_us"),
    # the newest swipe by (event time, swipe id): its time, id, country and position
    Measure("last", "last", "last"),
    Measure("seen", "set", "seen"),
)
# the observe() name under which the JVM tile engine reports late swipes in its query's progress
LATE_ROWS_METRIC = "card_tiles_late"
LAST_FIELDS = ("last_us", "last_swipe_id", "last_country", "last_lat", "last_lon")

Last = tuple[int, str, str, float | None, float | None]
Seen = tuple[str, str, str, str | None]


def epoch_us(t: datetime) -> int:
    """A time in epoch microseconds, exact (no float seconds in between)."""
    delta = t - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _US + delta.microseconds


def swipe_inputs(swipe: Swipe) -> dict[str, Any]:
    """The inputs the measures read, from one swipe (the Spark twin: `streaming.tile_spark.inputs`)."""
    return inputs_of(
        epoch_us(swipe.event_time),
        swipe.swipe_id,
        swipe.amount,
        denied=swipe.decision == "deny",
        channel=swipe.channel,
        merchant_id=swipe.merchant_id,
        country=swipe.country,
        mcc=swipe.mcc,
        lat=swipe.lat,
        lon=swipe.lon,
    )


def inputs_of(
    t_us: int,
    swipe_id: str,
    amount: float,
    *,
    denied: bool,
    channel: str,
    merchant_id: str,
    country: str,
    mcc: str,
    lat: float | None,
    lon: float | None,
) -> dict[str, Any]:
    """The measures' inputs from a swipe's fields: a `Swipe`, or a swipe the scorer keeps in its lag cover."""
    located = lat is not None and lon is not None
    x, y, z = unit_vector(lat, lon) if located else (0.0, 0.0, 0.0)  # type: ignore[arg-type]
    log_amount = math.log1p(amount)
    place = place_of(lat, lon) if located else None  # type: ignore[arg-type]
    return {
        "one": 1,
        "amount": amount,
        "log_amount": log_amount,
        "log_amount_sq": log_amount * log_amount,
        "is_denied": int(denied),
        "is_ecom": int(channel == "ecom"),
        "is_located": int(located),
        "unit_x": x,
        "unit_y": y,
        "unit_z": z,
        "event_us": t_us,
        "last": (t_us, swipe_id, country, lat, lon),
        "seen": (merchant_id, country, mcc, place),
    }


def tile_start(t_us: int, grain_s: int) -> int:
    """The start (epoch seconds) of the tile of `grain_s` holding the instant `t_us`."""
    return (t_us // _US) // grain_s * grain_s


@dataclass(slots=True)
class Tile:
    """One tile's partial aggregates; the fields of `CardTile` less the card token."""

    grain_s: int
    start_s: int
    count: int = 0
    amount_sum: float = 0.0
    amount_max: float = 0.0
    log_amount_sum: float = 0.0
    log_amount_sq: float = 0.0
    denied: int = 0
    ecom: int = 0
    located: int = 0
    home_x: float = 0.0
    home_y: float = 0.0
    home_z: float = 0.0
    first_us: int = 0
    last: Last | None = None
    seen: set[Seen] = field(default_factory=set)

    @property
    def end_s(self) -> int:
        return self.start_s + self.grain_s

    @property
    def hour_of_day(self) -> int:
        """The UTC hour of day of an hour tile (or a minute tile): the card's rhythm needs no more."""
        return (self.start_s // 3600) % 24

    @property
    def last_us(self) -> int:
        return self.last[0] if self.last is not None else 0

    def add(self, inputs: dict[str, Any]) -> None:
        """Aggregate one swipe's inputs into the tile, measure by measure."""
        first = self.count == 0
        for m in MEASURES:
            value = inputs[m.source]
            if m.kind in ("count", "sum"):
                setattr(self, m.name, getattr(self, m.name) + value)
            elif m.kind == "max":
                setattr(self, m.name, value if first else max(getattr(self, m.name), value))
            elif m.kind == "min":
                setattr(self, m.name, value if first else min(getattr(self, m.name), value))
            elif m.kind == "last":
                held = self.last
                if held is None or (value[0], value[1]) > (held[0], held[1]):
                    self.last = value
            else:
                self.seen.add(value)

    def record(self, card_token: str) -> CardTile:
        """The tile as it travels on `card-tiles`; sets in a stable order."""
        last_us, last_id, last_country, last_lat, last_lon = self.last or (0, "", "", None, None)
        return CardTile(
            card_token=card_token,
            grain_s=self.grain_s,
            start_s=self.start_s,
            count=self.count,
            amount_sum=self.amount_sum,
            amount_max=self.amount_max,
            log_amount_sum=self.log_amount_sum,
            log_amount_sq=self.log_amount_sq,
            denied=self.denied,
            ecom=self.ecom,
            located=self.located,
            home_x=self.home_x,
            home_y=self.home_y,
            home_z=self.home_z,
            first_us=self.first_us,
            last_us=last_us,
            last_swipe_id=last_id,
            last_country=last_country,
            last_lat=last_lat,
            last_lon=last_lon,
            seen=[
                TileSeen(merchant_id=m, country=c, mcc=k, place=p)
                for m, c, k, p in sorted(self.seen, key=_seen_order)
            ],
        )

    @classmethod
    def of(cls, record: CardTile) -> Tile:
        """A tile back from its record (what the scorer receives from `card-tiles`)."""
        return cls(
            grain_s=record.grain_s,
            start_s=record.start_s,
            count=record.count,
            amount_sum=record.amount_sum,
            amount_max=record.amount_max,
            log_amount_sum=record.log_amount_sum,
            log_amount_sq=record.log_amount_sq,
            denied=record.denied,
            ecom=record.ecom,
            located=record.located,
            home_x=record.home_x,
            home_y=record.home_y,
            home_z=record.home_z,
            first_us=record.first_us,
            last=(
                record.last_us,
                record.last_swipe_id,
                record.last_country,
                record.last_lat,
                record.last_lon,
            ),
            seen={(s.merchant_id, s.country, s.mcc, s.place) for s in record.seen},
        )


def _seen_order(seen: Seen) -> tuple[str, str, str, str]:
    return seen[0], seen[1], seen[2], seen[3] or ""


TileKey = tuple[int, int]  # (grain_s, start_s)


def add_swipe(tiles: dict[TileKey, Tile], swipe: Swipe, grains_s: tuple[int, ...] = GRAINS_S) -> None:
    """Add one swipe to its tile of every grain, creating the tiles it opens."""
    add_inputs(tiles, swipe_inputs(swipe), grains_s)


def add_inputs(
    tiles: dict[TileKey, Tile], inputs: dict[str, Any], grains_s: tuple[int, ...] = GRAINS_S
) -> None:
    """Add one swipe's inputs (`inputs_of`) to its tile of every grain, creating the tiles it opens."""
    for g in grains_s:
        key = (g, tile_start(inputs["event_us"], g))
        tile = tiles.get(key)
        if tile is None:
            tile = tiles[key] = Tile(grain_s=g, start_s=key[1])
        tile.add(inputs)


def tiles_of(swipes: list[Swipe], grains_s: tuple[int, ...] = GRAINS_S) -> dict[TileKey, Tile]:
    """Every tile of these swipes (one card's), nothing dropped: the definition the parity tests hold."""
    tiles: dict[TileKey, Tile] = {}
    for s in swipes:
        add_swipe(tiles, s, grains_s)
    return tiles
