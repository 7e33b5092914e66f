"""The online tables' stored form of a record: its values, marshalled and compressed, read back unvalidated.

A table only holds records that were validated already: parsed off a topic by the follower, or
merged from validated tiles. Reading one back per request as Kafka JSON validated it a second time.
The stored form is the record's field values in field order (a nested record as its own tuple, a
datetime as microseconds since 1970 in UTC), `marshal`led and LZ4-compressed; reading it builds
the records the way pydantic's `model_construct` does, without its per-field work:

    CardFeatures(card_token=..., as_of=2026-11-27T09:00Z, windows=[WindowFeatures(...), ...], ...)
        <-> ("ct_...", 1795770000000000, ..., [(600, 3, 42.5, ...), ...], ...)

On the scorer bench's cards (1.5 KB of JSON each) that is 455 B a record against 607 B of
compressed JSON, and ~50 µs less server CPU a request (docs/benchmarks.md, 2026-12-03). LZ4 and
not zlib, since the follower stores a record at every merge: on 30-day cards 1.9 µs to compress
against zlib's 27 (0.9 against 5 to decompress, per request), for 633 B a record against 527
(docs/benchmarks.md, 2026-12-04). The record
read back equals the one stored and serializes to the same JSON
(tests/unit/scoring/serving/test_plain.py). No I/O here.
"""

from __future__ import annotations

import marshal
import operator
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

import lz4.block
from pydantic import AwareDatetime, BaseModel

M = TypeVar("M", bound=BaseModel)
Convert = Callable[[Any], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SCALARS = (str, int, float, bool, type(None))
_new = object.__new__
_set = object.__setattr__  # the records are frozen: their own __setattr__ refuses


class PlainRecords(Generic[M]):
    """`dump` a validated record of `model` to bytes; `load` builds it back without validating."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._dump, self._load = _record(model)

    def dump(self, record: M) -> bytes:
        return lz4.block.compress(marshal.dumps(self._dump(record)))

    def load(self, stored: bytes) -> M:
        record: M = self._load(marshal.loads(lz4.block.decompress(stored)))
        return record


def _record(model: type[BaseModel]) -> tuple[Convert, Convert]:
    """The two conversions of a record type: to a tuple of field values, and back."""
    if model.__private_attributes__:
        raise TypeError(f"{model.__name__} has private attributes; its plain form would leave them unset")
    names = tuple(model.model_fields)
    fields = [
        (name, _field(info.annotation, f"{model.__name__}.{name}"))
        for name, info in model.model_fields.items()
    ]
    # every field's value in one C call; then the few that convert (records, lists of them, datetimes)
    values_of = operator.attrgetter(*names) if len(names) > 1 else lambda r: (getattr(r, names[0]),)
    converts = tuple((i, pair[0]) for i, (_, pair) in enumerate(fields) if pair is not None)
    loads = tuple((name, pair[1]) for name, pair in fields if pair is not None)
    every_field = frozenset(names)

    def dump(record: BaseModel) -> tuple[Any, ...]:
        values = values_of(record)
        if not converts:
            return values
        out = list(values)
        for i, to in converts:
            out[i] = to(out[i])
        return tuple(out)

    def load(values: tuple[Any, ...]) -> BaseModel:
        held = dict(zip(names, values, strict=True))
        for name, back in loads:
            held[name] = back(held[name])
        built = _new(model)
        _set(built, "__dict__", held)
        _set(built, "__pydantic_fields_set__", set(every_field))  # the JSON had every field
        _set(built, "__pydantic_extra__", None)  # extra="forbid"
        _set(built, "__pydantic_private__", None)
        return built

    return dump, load


def _field(annotation: Any, where: str) -> tuple[Convert, Convert] | None:
    """(to plain, back) for one field's type; None: the value is stored as it is."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _field(get_args(annotation)[0], where)
    if origin in (Union, types.UnionType):
        parts = [_field(a, where) for a in get_args(annotation) if a is not type(None)]
        if all(part is None for part in parts):
            return None
        pair = parts[0] if len(parts) == 1 else None
        if pair is None:
            raise TypeError(f"{where}: a union of a record or datetime with other types has no plain form")
        return _or_none(pair[0]), _or_none(pair[1])
    if origin is list:
        item = _field(get_args(annotation)[0], where)
        # a list of scalars as it is: marshal builds a new list on every load
        return None if item is None else (_each(item[0]), _each(item[1]))
    if origin is dict and all(a in _SCALARS for a in get_args(annotation)):
        return None
    if origin is Literal or annotation in _SCALARS:
        return None
    if annotation in (datetime, AwareDatetime):
        return _microseconds, _datetime
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _record(annotation)
    raise TypeError(f"{where}: no plain form for {annotation!r}; extend scoring.serving.plain._field")


def _microseconds(value: datetime) -> int:
    # astimezone(UTC), as the Kafka JSON writes it (streaming.schema._iso_utc); exact to the microsecond.
    return (value.astimezone(UTC) - _EPOCH) // _MICROSECOND


def _datetime(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _or_none(convert: Convert) -> Convert:
    def or_none(value: Any) -> Any:
        return None if value is None else convert(value)

    return or_none


def _each(convert: Convert) -> Convert:
    def each(values: list[Any]) -> list[Any]:
        return [convert(v) for v in values]

    return each
