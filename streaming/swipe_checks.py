"""Spark column checks derived from the pydantic field rules, so parse_swipes enforces the one contract.

Each pydantic rule (required, type, gt/ge/lt/le, min/max length, pattern, Literal choices) becomes a
Spark Column that is a message naming the field when the rule is broken, and null otherwise.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic.fields import FieldInfo
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StringType, TimestampType

# An ISO-8601 timestamp must say its offset: pydantic's AwareDatetime refuses naive times, and
# Spark would otherwise read them in the session time zone.
_OFFSET_SUFFIX = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"

_BOUNDS: list[tuple[type, str, str]] = [
    (at.Gt, "gt", ">"),
    (at.Ge, "ge", ">="),
    (at.Lt, "lt", "<"),
    (at.Le, "le", "<="),
]


def _literal_choices(annotation: Any) -> tuple[str, ...]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _literal_choices(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return tuple(c for a in get_args(annotation) for c in _literal_choices(a))
    if origin is Literal:
        return tuple(str(a) for a in get_args(annotation))
    return ()


def _broken(rule: Column, message: str) -> Column:
    return F.when(rule, F.lit(message))


def field_checks(
    name: str, info: FieldInfo, spark_type: DataType, raw: Column
) -> tuple[Column, list[Column]]:
    """The typed column for JSON text `raw`, and one message column per rule of the field."""
    errors: list[Column] = []
    typed = raw
    if not isinstance(spark_type, StringType):
        # Any JSON value reads as text; a string field takes it as is, the others must cast.
        typed = raw.try_cast(spark_type)
        kind = spark_type.simpleString()
        errors.append(_broken(raw.isNotNull() & typed.isNull(), f"{name}: wrong type, expected {kind}"))
    if info.is_required():
        errors.append(_broken(raw.isNull(), f"{name}: missing required field"))
    elif info.default is not None:
        typed = F.coalesce(typed, F.lit(info.default))
    if isinstance(spark_type, TimestampType):
        errors.append(
            _broken(
                typed.isNotNull() & ~raw.rlike(_OFFSET_SUFFIX),
                f"{name}: timestamp needs a UTC offset, e.g. 2026-11-27T09:00:00Z",
            )
        )
    for rule in info.metadata:
        for cls, attr, op in _BOUNDS:
            if isinstance(rule, cls):
                bound = getattr(rule, attr)
                holds = {">": typed > bound, ">=": typed >= bound, "<": typed < bound, "<=": typed <= bound}
                errors.append(_broken(~holds[op], f"{name}: must be {op} {bound}"))
        if isinstance(rule, at.MinLen):
            errors.append(
                _broken(F.length(typed) < rule.min_length, f"{name}: shorter than {rule.min_length}")
            )
        if isinstance(rule, at.MaxLen):
            errors.append(
                _broken(F.length(typed) > rule.max_length, f"{name}: longer than {rule.max_length}")
            )
        pattern = getattr(rule, "pattern", None)
        if isinstance(pattern, str):
            errors.append(_broken(~typed.rlike(pattern), f"{name}: does not match {pattern}"))
    choices = _literal_choices(info.annotation)
    if choices:
        errors.append(_broken(~typed.isin(*choices), f"{name}: must be one of {', '.join(choices)}"))
    return typed, errors
