"""The one JSON log line of every process: its keys, the record's extras and fields, the trace."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from foundation.logs import JsonFormatter


def _record(extra: dict[str, Any], exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise KeyError("card_token")
        except KeyError:
            info = sys.exc_info()
    record = logging.LogRecord("fraudstream.x", logging.WARNING, __file__, 1, "hello %s", ("there",), info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, {}),
        ({"swipe_id": "sw-1"}, {"swipe_id": "sw-1"}),  # the scorer's extra={...}
        ({"fields": {"query": "history", "batch": 3}}, {"query": "history", "batch": 3}),  # the job's
        ({"_private": 1}, {}),
    ],
)
def test_a_line_holds_the_standard_keys_and_the_extras(
    extra: dict[str, Any], expected: dict[str, Any]
) -> None:
    line = json.loads(JsonFormatter().format(_record(extra)))
    assert {k: line.pop(k) for k in ("level", "logger", "msg")} == {
        "level": "warning",
        "logger": "fraudstream.x",
        "msg": "hello there",
    }
    assert line.pop("ts").endswith("+00:00")
    assert line == expected


def test_a_trace_goes_under_exception() -> None:
    line = json.loads(JsonFormatter().format(_record({}, exc=True)))
    assert "KeyError: 'card_token'" in line["exception"]
