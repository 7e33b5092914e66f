"""The HTTP bodies' one RFC 3339 check: a date-time string with its offset, never a coerced value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scoring.serving.api import rfc3339_date_time


@pytest.mark.parametrize(
    "value", ["2026-11-27T09:00:00Z", "2026-11-27t09:00:00.123456z", "2026-11-27T10:00:00+01:00"]
)
def test_an_rfc_3339_date_time_passes_as_given(value: str) -> None:
    assert rfc3339_date_time(value) == value


def test_a_datetime_built_in_python_passes() -> None:
    at = datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert rfc3339_date_time(at) is at


@pytest.mark.parametrize(
    "value",
    ["4", 4, 4.5, True, None, "2026-11-27", "2026-11-27 09:00:00Z", "2026-11-27T09:00:00", "yesterday"],
)
def test_anything_else_is_refused_naming_the_form(value: Any) -> None:
    with pytest.raises(ValueError, match="RFC 3339 date-time string with its timezone offset"):
        rfc3339_date_time(value)
