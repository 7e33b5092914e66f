"""A seeded, vectorized population of merchants and cards, with each card's spending habits.

Everything is a numpy array indexed by merchant or card number, so one million cards build in
seconds and cost tens of megabytes. PANs are derived on demand from two small integers per card
and live only in memory; swipes carry the token (`Population.token`), computed lazily and cached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from foundation.card_tokens import tokenize_pan

# country -> weight among cardholders, [(city, lat, lon, standard UTC offset in hours)]
GEOGRAPHY: dict[str, tuple[float, list[tuple[str, float, float, int]]]] = {
    "FR": (0.28, [
        ("Paris", 48.857, 2.352, 1), ("Lyon", 45.764, 4.836, 1), ("Marseille", 43.296, 5.370, 1),
        ("Toulouse", 43.605, 1.444, 1), ("Lille", 50.629, 3.057, 1), ("Bordeaux", 44.838, -0.579, 1),
    ]),
    "DE": (0.18, [
        ("Berlin", 52.520, 13.405, 1), ("Munich", 48.137, 11.575, 1), ("Hamburg", 53.551, 9.994, 1),
        ("Cologne", 50.938, 6.960, 1), ("Frankfurt", 50.110, 8.682, 1),
    ]),
    "GB": (0.10, [
        ("London", 51.507, -0.128, 0), ("Manchester", 53.481, -2.243, 0), ("Birmingham", 52.486, -1.890, 0),
        ("Glasgow", 55.864, -4.252, 0), ("Leeds", 53.801, -1.549, 0),
    ]),
    "ES": (0.10, [
        ("Madrid", 40.417, -3.704, 1), ("Barcelona", 41.385, 2.173, 1), ("Valencia", 39.470, -0.376, 1),
        ("Seville", 37.389, -5.984, 1),
    ]),
    "IT": (0.09, [
        ("Rome", 41.903, 12.496, 1), ("Milan", 45.464, 9.190, 1), ("Naples", 40.852, 14.268, 1),
        ("Turin", 45.070, 7.687, 1),
    ]),
    "NL": (0.07, [
        ("Amsterdam", 52.368, 4.904, 1), ("Rotterdam", 51.924, 4.478, 1), ("Utrecht", 52.091, 5.122, 1),
        ("The Hague", 52.070, 4.300, 1),
    ]),
    "PL": (0.06, [
        ("Warsaw", 52.230, 21.012, 1), ("Krakow", 50.065, 19.945, 1), ("Wroclaw", 51.108, 17.039, 1),
        ("Gdansk", 54.352, 18.646, 1),
    ]),
    "US": (0.06, [
        ("New York", 40.713, -74.006, -5), ("Los Angeles", 34.052, -118.244, -8),
        ("Chicago", 41.878, -87.630, -6), ("Houston", 29.760, -95.370, -6), ("Miami", 25.762, -80.192, -5),
    ]),
    "BR": (0.03, [
        ("Sao Paulo", -23.551, -46.633, -3), ("Rio de Janeiro", -22.907, -43.173, -3),
        ("Brasilia", -15.794, -47.882, -3), ("Salvador", -12.978, -38.502, -3),
    ]),
    "JP": (0.03, [
        ("Tokyo", 35.676, 139.650, 9), ("Osaka", 34.694, 135.502, 9), ("Nagoya", 35.181, 136.906, 9),
        ("Sapporo", 43.062, 141.354, 9),
    ]),
}  # fmt: skip

# In-person MCCs: (mcc, share of merchants, log-amount shift relative to the card's own median)
POS_MCCS: list[tuple[str, float, float]] = [
    ("5411", 0.22, 0.2), ("5812", 0.14, 0.3), ("5814", 0.12, -0.6), ("5541", 0.08, 0.6), ("5912", 0.07, -0.2),
    ("5311", 0.05, 0.5), ("5651", 0.06, 0.7), ("4111", 0.06, -1.2), ("5999", 0.06, 0.0), ("7832", 0.03, -0.3),
    ("5942", 0.03, -0.2), ("4121", 0.04, 0.0), ("5732", 0.02, 1.5), ("5944", 0.01, 1.8), ("5947", 0.01, 0.6),
    ("7011", 0.02, 1.8),
]  # fmt: skip
# Online MCCs: marketplace, digital media, electronics, clothing, travel, subscriptions, gift cards,
# money transfer
ECOM_MCCS: list[tuple[str, float, float]] = [
    ("5999", 0.30, 0.3), ("5815", 0.20, -0.8), ("5732", 0.10, 1.2), ("5651", 0.15, 0.6), ("4722", 0.05, 2.0),
    ("4899", 0.12, -0.5), ("5947", 0.05, 0.5), ("4829", 0.03, 1.0),
]  # fmt: skip

# Issuer BINs the synthetic PANs start with (test ranges of the big schemes).
BINS = ("411111", "422222", "455673", "510510", "555544", "535310")
ACCOUNT_SPACE = 10**9  # 6-digit BIN + 9-digit account + check digit = 16-digit PAN
_ACCOUNT_STRIDE = 387_420_489  # 3**18: coprime with 10**9, so i -> i * stride + offset is a bijection
_KM_TO_DEG = 1 / 111.0

SETTLEMENT_CURRENCY = "EUR"  # every amount is in the issuer's settlement currency
RHYTHM_ARCHETYPES = 8
RHYTHM_SHIFTS = (-1, 0, 1, 2)  # early birds to night owls, hours


@dataclass(frozen=True)
class Geography:
    """The city table flattened into arrays; countries in GEOGRAPHY order."""

    countries: list[str]
    country_weight: np.ndarray  # per country, sums to 1
    city_name: list[str]
    city_country: np.ndarray  # per city: index into countries
    city_lat: np.ndarray
    city_lon: np.ndarray
    city_utc_offset: np.ndarray
    city_weight: np.ndarray  # per city, within its country, sums to 1 per country

    @classmethod
    def default(cls) -> Geography:
        countries = list(GEOGRAPHY)
        rows = [(ci, *city) for ci, c in enumerate(countries) for city in GEOGRAPHY[c][1]]
        rank = np.array([sum(1 for r in rows[:i] if r[0] == row[0]) for i, row in enumerate(rows)])
        city_country = np.array([r[0] for r in rows])
        weight = 1.0 / (rank + 1.0)  # the capital-sized first city draws the most people
        weight /= np.bincount(city_country, weights=weight)[city_country]
        cw = np.array([GEOGRAPHY[c][0] for c in countries])
        return cls(
            countries=countries,
            country_weight=cw / cw.sum(),
            city_name=[r[1] for r in rows],
            city_country=city_country,
            city_lat=np.array([r[2] for r in rows]),
            city_lon=np.array([r[3] for r in rows]),
            city_utc_offset=np.array([r[4] for r in rows]),
            city_weight=weight,
        )

    def population_weight(self) -> np.ndarray:
        """Share of cardholders (and of shops) per city."""
        return self.country_weight[self.city_country] * self.city_weight


@dataclass(frozen=True)
class PopulationConfig:
    cards: int = 10_000
    cards_per_pos_merchant: float = 5.0
    cards_per_ecom_merchant: float = 50.0
    usual_pos_merchants: tuple[int, int] = (6, 20)  # per card, inclusive range
    usual_ecom_merchants: tuple[int, int] = (2, 6)
    domestic_ecom_share: float = 0.75  # of online merchants, registered in a cardholder country
    median_amount: float = 28.0
    swipes_per_day: float = 2.5  # population mean


@dataclass
class Population:
    """Merchants and cards as parallel arrays; index i is merchant i or card i."""

    config: PopulationConfig
    geo: Geography
    token_key: bytes = field(repr=False)
    # merchants: [0, n_pos) are shops sorted by city, [n_pos, n) are online (lat/lon NaN)
    merchant_ids: list[str]
    merchant_mcc: list[str]
    merchant_mcc_shift: np.ndarray
    merchant_country: np.ndarray
    merchant_lat: np.ndarray
    merchant_lon: np.ndarray
    n_pos: int
    city_first_merchant: np.ndarray  # shops of city c are [first[c], first[c] + count[c])
    city_merchant_count: np.ndarray
    # cards
    card_bin: np.ndarray
    card_account: np.ndarray
    card_check: np.ndarray  # Luhn check digit, computed for all cards at once
    home_city: np.ndarray
    home_lat: np.ndarray
    home_lon: np.ndarray
    utc_offset: np.ndarray
    log_mu: np.ndarray  # log-amount mean: exp(mu) is the card's median spend
    log_sigma: np.ndarray
    ecom_share: np.ndarray
    swipes_per_day: np.ndarray
    rhythm: np.ndarray  # row into rhythm_table
    rhythm_table: np.ndarray  # (archetypes * shifts, 24): share of a day's swipes per local hour
    usual_pos_start: np.ndarray  # card i's shops are usual_pos[start[i]:start[i + 1]], favourite first
    usual_pos: np.ndarray
    usual_ecom_start: np.ndarray
    usual_ecom: np.ndarray
    _tokens: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def cards(self) -> int:
        return len(self.card_account)

    def pan(self, card: int) -> str:
        """Card i's 16-digit PAN. Kept out of every record: call `token` for anything that leaves."""
        return f"{BINS[self.card_bin[card]]}{int(self.card_account[card]):09d}{int(self.card_check[card])}"

    def token(self, card: int) -> str:
        tok = self._tokens.get(card)
        if tok is None:
            tok = self._tokens[card] = tokenize_pan(self.pan(card), self.token_key)
        return tok

    def home_country(self, card: int) -> str:
        return self.geo.countries[self.geo.city_country[self.home_city[card]]]

    def hour_weights(self, card: int) -> np.ndarray:
        """Card i's share of daily swipes per local hour of day (sums to 1)."""
        return np.asarray(self.rhythm_table[self.rhythm[card]])

    def usual_merchants(self, card: int) -> np.ndarray:
        return self.usual_pos[self.usual_pos_start[card] : self.usual_pos_start[card + 1]]

    def expected_swipes_per_second(self) -> float:
        return float(self.swipes_per_day.sum()) / 86_400.0


def rhythm_table(rng: np.random.Generator) -> np.ndarray:
    """Daily rhythms: a morning, lunch and evening peak with per-archetype mix, near zero at night."""
    hours = np.arange(24) + 0.5
    peaks = np.array([8.5, 12.5, 18.5, 21.0])
    widths = np.array([1.2, 1.0, 1.8, 1.5])
    bumps = np.exp(-0.5 * ((hours[None, :] - peaks[:, None]) / widths[:, None]) ** 2)  # (4, 24)
    mix = rng.dirichlet([2.0, 4.0, 5.0, 1.5], size=RHYTHM_ARCHETYPES)  # (K, 4)
    base = mix @ bumps + 0.05 * ((hours >= 7) & (hours <= 23)) + 0.004  # daytime floor, night trickle
    rows = [np.roll(b, s) for b in base for s in RHYTHM_SHIFTS]
    table = np.array(rows)
    return np.asarray(table / table.sum(axis=1, keepdims=True))


def _pick_within(rng: np.random.Generator, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    return first + np.floor(rng.random(len(first)) * count).astype(np.int64)


@dataclass
class _Merchants:
    """The shops (sorted by city) then the online merchants, as `Population` holds them."""

    ids: list[str]
    mcc: list[str]
    mcc_shift: np.ndarray
    country: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    n_pos: int
    city_first: np.ndarray
    city_count: np.ndarray

    @property
    def n_ecom(self) -> int:
        return len(self.ids) - self.n_pos


def _draw_merchants(
    rng: np.random.Generator, geo: Geography, people: np.ndarray, config: PopulationConfig
) -> _Merchants:
    # Shops: per city in proportion to its people, at least 20 so "a new shop nearby" exists.
    n_pos_target = max(len(people) * 20, int(config.cards / config.cards_per_pos_merchant))
    per_city = np.maximum(20, np.round(people * n_pos_target)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(per_city)[:-1]])
    n_pos = int(per_city.sum())
    shop_city = np.repeat(np.arange(len(people)), per_city)
    shop_lat = geo.city_lat[shop_city] + rng.normal(0, 6 * _KM_TO_DEG, n_pos)
    shop_lon = geo.city_lon[shop_city] + rng.normal(0, 6 * _KM_TO_DEG, n_pos) / np.cos(
        np.radians(geo.city_lat[shop_city])
    )
    pos_mcc = rng.choice(len(POS_MCCS), size=n_pos, p=_shares(POS_MCCS))

    n_ecom = max(50, int(config.cards / config.cards_per_ecom_merchant))
    domestic = rng.random(n_ecom) < config.domestic_ecom_share
    ecom_country = np.where(
        domestic,
        rng.choice(len(geo.countries), size=n_ecom, p=geo.country_weight),
        rng.integers(0, len(geo.countries), size=n_ecom),
    )
    ecom_mcc = rng.choice(len(ECOM_MCCS), size=n_ecom, p=_shares(ECOM_MCCS))
    return _Merchants(
        ids=[f"m-{i:07d}" for i in range(n_pos + n_ecom)],
        mcc=[POS_MCCS[i][0] for i in pos_mcc] + [ECOM_MCCS[i][0] for i in ecom_mcc],
        mcc_shift=np.concatenate(
            [np.array([m[2] for m in POS_MCCS])[pos_mcc], np.array([m[2] for m in ECOM_MCCS])[ecom_mcc]]
        ),
        country=np.concatenate([geo.city_country[shop_city], ecom_country]),
        lat=np.concatenate([shop_lat, np.full(n_ecom, np.nan)]),
        lon=np.concatenate([shop_lon, np.full(n_ecom, np.nan)]),
        n_pos=n_pos,
        city_first=first,
        city_count=per_city,
    )


@dataclass
class _Cards:
    """Each card's home and habits, drawn after the merchants (the draw order keeps seeds stable)."""

    home_city: np.ndarray
    home_lat: np.ndarray
    home_lon: np.ndarray
    log_mu: np.ndarray
    log_sigma: np.ndarray
    swipes_per_day: np.ndarray
    usual_pos_start: np.ndarray
    usual_pos: np.ndarray
    usual_ecom_start: np.ndarray
    usual_ecom: np.ndarray
    card_bin: np.ndarray
    card_account: np.ndarray


def _draw_cards(
    rng: np.random.Generator, geo: Geography, people: np.ndarray, config: PopulationConfig, shops: _Merchants
) -> _Cards:
    # Cards: home near a city, habits drawn per card.
    n = config.cards
    home_city = rng.choice(len(people), size=n, p=people)
    spread = rng.normal(0, 8 * _KM_TO_DEG, (2, n))
    home_lat = geo.city_lat[home_city] + spread[0]
    home_lon = geo.city_lon[home_city] + spread[1] / np.cos(np.radians(geo.city_lat[home_city]))
    sigma = rng.uniform(0.5, 1.0, n)
    mu = rng.normal(math.log(config.median_amount), 0.45, n)
    spd = config.swipes_per_day * rng.lognormal(-0.18, 0.6, n)  # lognormal with mean ~1

    lo, hi = config.usual_pos_merchants
    k_pos = rng.integers(lo, hi + 1, size=n)
    first, per_city = shops.city_first[home_city], shops.city_count[home_city]
    usual_pos = _pick_within(rng, np.repeat(first, k_pos), np.repeat(per_city, k_pos))
    lo, hi = config.usual_ecom_merchants
    k_ecom = rng.integers(lo, hi + 1, size=n)
    usual_ecom = shops.n_pos + rng.integers(0, shops.n_ecom, size=int(k_ecom.sum()))

    offset = int(rng.integers(0, ACCOUNT_SPACE))
    accounts = (np.arange(n, dtype=np.int64) * _ACCOUNT_STRIDE + offset) % ACCOUNT_SPACE
    card_bin = rng.integers(0, len(BINS), size=n).astype(np.uint8)
    return _Cards(
        home_city=home_city,
        home_lat=home_lat,
        home_lon=home_lon,
        log_mu=mu,
        log_sigma=sigma,
        swipes_per_day=spd,
        usual_pos_start=np.concatenate([[0], np.cumsum(k_pos)]),
        usual_pos=usual_pos.astype(np.int32),
        usual_ecom_start=np.concatenate([[0], np.cumsum(k_ecom)]),
        usual_ecom=usual_ecom.astype(np.int32),
        card_bin=card_bin,
        card_account=accounts,
    )


def build_population(
    rng: np.random.Generator, token_key: bytes, config: PopulationConfig = PopulationConfig()
) -> Population:
    """Build merchants and cards; the same rng seed and config give the same population."""
    if not token_key:
        raise ValueError("tokenization key is empty; set FRAUDSTREAM_TOKEN_KEY")
    geo = Geography.default()
    n = config.cards
    people = geo.population_weight()
    m = _draw_merchants(rng, geo, people, config)
    c = _draw_cards(rng, geo, people, config, m)
    return Population(
        config=config,
        geo=geo,
        token_key=token_key,
        merchant_ids=m.ids,
        merchant_mcc=m.mcc,
        merchant_mcc_shift=m.mcc_shift,
        merchant_country=m.country,
        merchant_lat=m.lat,
        merchant_lon=m.lon,
        n_pos=m.n_pos,
        city_first_merchant=m.city_first,
        city_merchant_count=m.city_count,
        card_bin=c.card_bin,
        card_account=c.card_account,
        card_check=luhn_check_digits(c.card_bin, c.card_account),
        home_city=c.home_city,
        home_lat=c.home_lat,
        home_lon=c.home_lon,
        utc_offset=geo.city_utc_offset[c.home_city],
        log_mu=c.log_mu,
        log_sigma=c.log_sigma,
        ecom_share=rng.beta(2.0, 7.0, n),
        swipes_per_day=c.swipes_per_day,
        rhythm=rng.integers(0, RHYTHM_ARCHETYPES * len(RHYTHM_SHIFTS), size=n).astype(np.int16),
        rhythm_table=rhythm_table(rng),
        usual_pos_start=c.usual_pos_start,
        usual_pos=c.usual_pos,
        usual_ecom_start=c.usual_ecom_start,
        usual_ecom=c.usual_ecom,
    )


def luhn_check_digits(card_bin: np.ndarray, accounts: np.ndarray) -> np.ndarray:
    """The Luhn check digit of BINS[bin] + 9-digit account, for every card at once."""
    bin_digits = np.array([[int(c) for c in b] for b in BINS], dtype=np.int32)[card_bin]
    account_digits = (accounts[:, None] // 10 ** np.arange(8, -1, -1)) % 10
    rightmost_first = np.hstack([bin_digits, account_digits.astype(np.int32)])[:, ::-1]
    doubled = rightmost_first[:, 0::2] * 2  # the digit next to the check digit is doubled, and every 2nd
    total = np.where(doubled > 9, doubled - 9, doubled).sum(axis=1) + rightmost_first[:, 1::2].sum(axis=1)
    return np.asarray((10 - total % 10) % 10, dtype=np.uint8)


def _shares(catalogue: list[tuple[str, float, float]]) -> np.ndarray:
    w = np.array([c[1] for c in catalogue])
    return np.asarray(w / w.sum())
