"""The tile definition as tables: which tiles a swipe lands in, what each measure keeps, the record."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from streaming.schema import CardTile, Swipe
from streaming.tiles import GRAINS_S, MEASURES, Tile, epoch_us, swipe_inputs, tile_start, tiles_of

T0 = datetime(2026, 11, 27, 9, 41, 7, tzinfo=UTC)
TOKEN = "ct_" + "ef" * 16


def sw(i: int, seconds: float, amount: float = 10.0, **kw: object) -> Swipe:
    return Swipe(
        swipe_id=f"s{i}",
        card_token=TOKEN,
        amount=amount,
        currency="EUR",
        merchant_id=f"m{i % 2}",
        mcc="5411",
        country="FR",
        event_time=T0 + timedelta(seconds=seconds),
        **kw,  # type: ignore[arg-type]
    )


# 09:41:07 lands in [09:41, 09:42), [09:00, 10:00) and the day [00:00, 24:00); a tile is half-open.
@pytest.mark.parametrize(
    ("at", "grain_s", "start"),
    [
        (T0, 60, datetime(2026, 11, 27, 9, 41, tzinfo=UTC)),
        (T0, 3600, datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        (T0, 86400, datetime(2026, 11, 27, tzinfo=UTC)),
        (datetime(2026, 11, 27, 10, 0, tzinfo=UTC), 3600, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        (datetime(2026, 11, 27, 9, 59, 59, 999999, tzinfo=UTC), 3600, datetime(2026, 11, 27, 9, tzinfo=UTC)),
    ],
)
def test_tile_start(at: datetime, grain_s: int, start: datetime) -> None:
    assert tile_start(epoch_us(at), grain_s) == int(start.timestamp())


def test_every_measure_reads_an_input_a_swipe_gives() -> None:
    inputs = swipe_inputs(sw(1, 0))
    assert {m.source for m in MEASURES} <= set(inputs)
    assert {m.name for m in MEASURES} - {"last"} <= set(Tile.__slots__)


def test_a_swipe_lands_in_one_tile_of_every_grain() -> None:
    tiles = tiles_of([sw(1, 0)])
    assert sorted(g for g, _ in tiles) == sorted(GRAINS_S)
    assert all(t.count == 1 for t in tiles.values())


def test_measures_aggregate_a_tile() -> None:
    swipes = [
        sw(1, 0, 10.0, lat=48.857, lon=2.352, decision="deny"),
        sw(2, 20, 30.0, channel="ecom"),
        sw(3, 10, 5.0, lat=48.857, lon=2.352),  # late inside the minute: not the newest
    ]
    (minute,) = [t for (g, _), t in tiles_of(swipes).items() if g == 60]
    assert (minute.count, minute.amount_sum, minute.amount_max) == (3, 45.0, 30.0)
    assert (minute.denied, minute.ecom, minute.located) == (1, 1, 2)
    assert minute.first_us == epoch_us(T0)
    assert minute.last == (epoch_us(T0) + 20_000_000, "s2", "FR", None, None)
    assert minute.hour_of_day == 9
    assert minute.seen == {("m1", "FR", "5411", "195:9"), ("m0", "FR", "5411", None)}
    assert minute.home_z == pytest.approx(2 * math.sin(math.radians(48.857)))  # two unit vectors


def test_a_tile_survives_its_kafka_record() -> None:
    tiles = tiles_of([sw(1, 0, lat=-33.869, lon=151.209), sw(2, 5, decision="deny")])
    for tile in tiles.values():
        record = tile.record(TOKEN)
        assert CardTile.model_validate_json(record.model_dump_json()) == record
        assert Tile.of(record) == tile
        assert record.key == f"{TOKEN}|{tile.grain_s}|{tile.start_s}"


def test_the_newest_swipe_breaks_time_ties_by_id() -> None:
    tiles = tiles_of([sw(2, 0), sw(1, 0)])
    assert all(t.last is not None and t.last[1] == "s2" for t in tiles.values())
