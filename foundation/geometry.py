"""Positions on the Earth: great-circle distance, means of unit vectors (the card's home), grid cells.

The card's home is the mean position of its located swipes, kept as a mean of unit vectors on the
sphere so it has no trouble at the antimeridian or the poles; sums of unit vectors merge across
tiles. A place is a grid cell of PLACE_CELL_DEG degrees. No I/O here.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088
PLACE_CELL_DEG = 0.25  # about 28 km north-south: a city is a handful of cells


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)


def home_of(x: float, y: float, z: float) -> tuple[float, float, float] | None:
    """(lat, lon, spread_km) of a mean of unit vectors; None for a zero vector.

    The mean's length r is 1 - (mean squared chord) / 2 between the points and their mean
    direction, so the spread (the root-mean-square chord, in km) keeps what the direction drops.
    """
    r = math.sqrt(x * x + y * y + z * z)
    if r < 1e-9:
        return None
    lat = math.degrees(math.atan2(z, math.hypot(x, y)))
    spread = EARTH_RADIUS_KM * math.sqrt(max(0.0, 2.0 * (1.0 - r)))
    return lat, math.degrees(math.atan2(y, x)), spread


def home_vector(lat: float, lon: float, spread_km: float) -> tuple[float, float, float]:
    """The inverse of `home_of`: the mean vector back from its direction and spread."""
    r = 1.0 - (spread_km / EARTH_RADIUS_KM) ** 2 / 2.0
    x, y, z = unit_vector(lat, lon)
    return r * x, r * y, r * z


def move_home(mean: tuple[float, float, float], k: int, lat: float, lon: float) -> tuple[float, float, float]:
    """The running mean of `k - 1` positions (as unit vectors) after adding the k-th."""
    x, y, z = unit_vector(lat, lon)
    return mean[0] + (x - mean[0]) / k, mean[1] + (y - mean[1]) / k, mean[2] + (z - mean[2]) / k


def place_of(lat: float, lon: float) -> str:
    """The grid cell of a position, as "<lat index>:<lon index>" of PLACE_CELL_DEG cells."""
    return f"{math.floor(lat / PLACE_CELL_DEG)}:{math.floor(lon / PLACE_CELL_DEG)}"


def place_center(place: str) -> tuple[float, float]:
    i, j = place.split(":")
    return (int(i) + 0.5) * PLACE_CELL_DEG, (int(j) + 0.5) * PLACE_CELL_DEG
