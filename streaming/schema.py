"""The swipe, label, review case and the card and merchant feature records: defined once, in pydantic.

The Spark StructType (`spark_schema`), the HTTP body and the Kafka serializer (`to_kafka` /
`from_kafka`) all derive from these classes, so the generator, the job and the scorer cannot
drift apart.
"""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from foundation.card_tokens import CARD_TOKEN_PATTERN

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType

Channel = Literal["pos", "ecom", "atm"]
Decision = Literal["approve", "deny"]


def _utc(value: datetime) -> datetime:
    """The time in UTC; a ValueError (a 422 naming the field at the API) when UTC cannot hold it,
    as for 0001-01-01T00:00+01:00, which falls before year 1."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range once converted to UTC") from None


def _iso_utc(value: datetime) -> str:
    # One timestamp spelling everywhere (microseconds, trailing Z) keeps Spark's parser exact.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# A serializer on the datetime fields only: the other fields keep pydantic's compiled path.
_AS_ISO = PlainSerializer(_iso_utc, return_type=str, when_used="json")
EventTime = Annotated[AwareDatetime, AfterValidator(_utc), _AS_ISO]
Timestamp = Annotated[datetime, _AS_ISO]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SwipeDetails(_Record):
    """What a card network tells us about one authorization attempt, minus the card identity."""

    swipe_id: Annotated[str, Field(min_length=1, max_length=64, examples=["sw-000001"])]
    amount: Annotated[float, Field(gt=0, le=1_000_000, examples=[42.5])]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]
    merchant_id: Annotated[str, Field(min_length=1, max_length=64, examples=["m-00042"])]
    mcc: Annotated[str, Field(pattern=r"^[0-9]{4}$", examples=["5411"])]
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", examples=["FR"])]
    lat: Annotated[float | None, Field(ge=-90, le=90, examples=[48.85])] = None
    lon: Annotated[float | None, Field(ge=-180, le=180, examples=[2.35])] = None
    channel: Channel = "pos"
    event_time: EventTime


class Swipe(SwipeDetails):
    """A swipe as it travels on the `swipes` topic: the card is a keyed-hash token, never a PAN.

    `decision` is set when the swipe went through the scorer, so denied attempts still count in
    the card's velocity; swipes authorized elsewhere carry None.
    """

    card_token: Annotated[str, Field(pattern=CARD_TOKEN_PATTERN)]
    decision: Decision | None = None


class Label(_Record):
    """Ground truth for one swipe, published late on the `labels` topic (a chargeback).

    `event_time` and `merchant_id` are the swipe's; `reported_at` is when the truth became known,
    the earliest time a feature may use it.
    """

    swipe_id: str
    card_token: Annotated[str, Field(pattern=CARD_TOKEN_PATTERN)]
    merchant_id: Annotated[str, Field(min_length=1, max_length=64)]
    is_fraud: bool
    scenario: str
    event_time: EventTime
    reported_at: EventTime

    @classmethod
    def of(cls, swipe: Swipe, *, is_fraud: bool, scenario: str, reported_at: datetime) -> Label:
        """The label of `swipe`: its ids, merchant and time, the truth, and when the truth became known."""
        return cls(
            swipe_id=swipe.swipe_id,
            card_token=swipe.card_token,
            merchant_id=swipe.merchant_id,
            is_fraud=is_fraud,
            scenario=scenario,
            event_time=swipe.event_time,
            reported_at=reported_at,
        )


Verdict = Literal["fraud", "legit"]


class ReviewReason(_Record):
    code: str
    detail: str
    value: float | str | None = None


class ReviewCase(_Record):
    """A swipe a `review` rule flagged, on the `reviews` topic (key: the swipe id): open, then closed.

    The swipe is tokenized (never a PAN); `reasons` and `features` are the decision's reasons and
    model inputs. An analyst's verdict publishes the same case again, closed, with who and why: the
    topic is compacted, so each swipe's newest state stays on it for every scorer replica to read.
    """

    swipe: Swipe
    decision: Decision
    score: float | None
    model_version: str | None
    reasons: list[ReviewReason]
    features: dict[str, float]
    decided_at: EventTime
    status: Literal["open", "closed"] = "open"
    verdict: Verdict | None = None
    analyst: str | None = None
    note: str | None = None
    closed_at: EventTime | None = None


class WindowFeatures(_Record):
    """Aggregates over the card's swipes in the trailing `horizon_s` seconds up to `as_of`."""

    horizon_s: int
    count: int
    amount_sum: float
    amount_max: float
    amount_mean: float
    merchants: int
    countries: int
    denied: int


class SessionFeatures(_Record):
    """The card's live session: swipes no more than the session gap apart, up to `as_of`."""

    start: Timestamp
    swipes: int
    amount: float
    duration_s: float
    merchants: int
    countries: int


class CardProfile(_Record):
    """Long-run habits of the card, the baseline request-time features compare against."""

    swipes: int
    log_amount_mean: float
    log_amount_std: float
    ecom_share: float
    hour_histogram: list[int]
    countries: list[str]
    merchants: list[str]
    mccs: list[str]
    # Where the card is used in person: the mean position of its card-present swipes (None until one),
    # and how far they spread around it (root-mean-square straight-line distance).
    home_lat: float | None = None
    home_lon: float | None = None
    home_spread_km: float | None = None
    located_swipes: int = 0
    # Grid cells ("<lat index>:<lon index>", see streaming.card_state.place_of) of its recent
    # card-present swipes, most recent last: unlike the home, a few far swipes do not move them.
    places: list[str] = []


class CardFeatures(_Record):
    """One card's features as of its newest swipe; published to `card-tiles`, keyed by token.

    `as_of` is the event time of the newest swipe folded in: a consumer keeps the record with the
    greatest `as_of`, so replays and duplicates do no harm. `computed_at` is the job's wall clock
    when it emitted the record, for freshness.
    """

    card_token: Annotated[str, Field(pattern=CARD_TOKEN_PATTERN)]
    as_of: Timestamp
    computed_at: Timestamp
    last_swipe_id: str
    last_country: str
    last_lat: float | None = None
    last_lon: float | None = None
    windows: list[WindowFeatures]
    session: SessionFeatures
    profile: CardProfile

    def window(self, horizon_s: int) -> WindowFeatures | None:
        return next((w for w in self.windows if w.horizon_s == horizon_s), None)


class TileSeen(_Record):
    """One distinct (merchant, country, MCC, place cell) of a tile; `place` is None for online swipes."""

    merchant_id: str
    country: str
    mcc: str
    place: str | None = None


class CardTile(_Record):
    """Mergeable partial aggregates of one card's swipes in one tile of time; on `card-tiles`.

    The tile is [start_s, start_s + grain_s) in epoch seconds; times inside are epoch microseconds
    (exact, and Spark's JSON writer keeps only milliseconds of a timestamp). Every field merges by
    sum, max, min or union, so trailing windows, the live session and the profile are merged from
    tiles (`streaming.card_state`). `last_*` is the tile's newest swipe by (time, swipe id). The key
    on Kafka is `<card_token>|<grain_s>|<start_s>`: a newer value of a tile replaces the older one.
    """

    card_token: Annotated[str, Field(pattern=CARD_TOKEN_PATTERN)]
    grain_s: int
    start_s: int
    count: int
    amount_sum: float
    amount_max: float
    log_amount_sum: float
    log_amount_sq: float
    denied: int
    ecom: int
    located: int
    home_x: float
    home_y: float
    home_z: float
    first_us: int
    last_us: int
    last_swipe_id: str
    last_country: str
    last_lat: float | None = None
    last_lon: float | None = None
    seen: list[TileSeen]

    @property
    def key(self) -> str:
        return f"{self.card_token}|{self.grain_s}|{self.start_s}"


class MerchantVolume(_Record):
    """The merchant's swipes in the `horizon_s` seconds up to `as_of`, on the bucket grid."""

    horizon_s: int
    count: int
    amount_sum: float


class MerchantFraud(_Record):
    """Known fraud among the merchant's swipes of `horizon_s` seconds ending a label delay before `as_of`.

    `swipes` is the rate's denominator (every swipe of that window), `fraud_known` the swipes of it
    with a fraud label reported by `as_of`.
    """

    horizon_s: int
    swipes: int
    fraud_known: int
    fraud_rate: float


class MerchantFeatures(_Record):
    """One merchant's features as of `as_of`; published to `merchant-features`, keyed by merchant id.

    `as_of` is the newest event folded in (a swipe's event time or a fraud label's `reported_at`).
    A late swipe changes the record without moving `as_of`, so `events` (swipes and fraud labels
    folded so far) breaks the tie: consumers keep the greatest (`as_of`, `events`). Windows are
    whole buckets of `bucket_s` seconds (see streaming.merchant_state).
    """

    merchant_id: str
    as_of: Timestamp
    events: int
    computed_at: Timestamp
    bucket_s: int
    label_delay_s: int
    volume: list[MerchantVolume]
    fraud: list[MerchantFraud]

    def volume_window(self, horizon_s: int) -> MerchantVolume | None:
        return next((w for w in self.volume if w.horizon_s == horizon_s), None)

    def fraud_window(self, horizon_s: int) -> MerchantFraud | None:
        return next((w for w in self.fraud if w.horizon_s == horizon_s), None)


RecordT = TypeVar("RecordT", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__  # the records are frozen: their own __setattr__ refuses


def unvalidated(model: type[RecordT], **fields: Any) -> RecordT:
    """A record of `model` from every one of its fields, built as pydantic's `model_construct`
    builds one but without its per-field work, and not validated: only for values our own code
    computed from validated ones, each already of its field's type (a float field gets a float,
    not an int: validation would have converted it, and the JSON would differ)."""
    record = _new(model)
    _set(record, "__dict__", fields)
    _set(record, "__pydantic_fields_set__", set(fields))
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


def to_kafka(record: BaseModel) -> bytes:
    """The Kafka value for a record: compact UTF-8 JSON."""
    return record.model_dump_json().encode("utf-8")


def from_kafka(model: type[RecordT], value: bytes | str) -> RecordT:
    """Parse a Kafka value; raises pydantic.ValidationError naming the bad field."""
    return model.model_validate_json(value)


def spark_schema(model: type[BaseModel], only: tuple[str, ...] | None = None) -> StructType:
    """The Spark StructType of a record, derived field by field from the pydantic model (or of its
    fields `only`, in that order)."""
    from pyspark.sql.types import StructField, StructType

    fields = []
    for name in only or tuple(model.model_fields):
        info = model.model_fields[name]
        spark_type, nullable = _spark_type(info.annotation)
        fields.append(StructField(name, spark_type, nullable=nullable or not info.is_required()))
    return StructType(fields)


def _spark_type(annotation: Any) -> tuple[DataType, bool]:
    from pyspark.sql import types as T

    origin = get_origin(annotation)
    if origin is Annotated:
        return _spark_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        inner, _ = _spark_type(args[0])
        return inner, True
    if origin is Literal:
        return T.StringType(), False
    if origin is list:
        inner, inner_nullable = _spark_type(get_args(annotation)[0])
        return T.ArrayType(inner, containsNull=inner_nullable), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return spark_schema(annotation), False
    scalar: dict[Any, DataType] = {
        str: T.StringType(),
        int: T.LongType(),
        float: T.DoubleType(),
        bool: T.BooleanType(),
        datetime: T.TimestampType(),
        AwareDatetime: T.TimestampType(),
    }
    if annotation in scalar:
        return scalar[annotation], False
    raise TypeError(f"no Spark type for {annotation!r}; extend streaming.schema._spark_type")
