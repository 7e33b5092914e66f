"""The scorer's own serialization: the decided swipe it publishes is exactly the `Swipe` record."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from scoring.serving.api import ScoreRequest
from scoring.serving.scorer import decided_swipe_value
from streaming.schema import Swipe, SwipeDetails, to_kafka
from tests.unit.scoring.builders import NEW_YORK, TOKEN, swipe


@pytest.mark.parametrize(
    ("details", "decision"),
    [
        (swipe(), "approve"),
        (swipe(7, seconds=0.123456, amount=1234.5, where=NEW_YORK, channel="ecom"), "deny"),
        (swipe(2, where=None, channel="atm", country="US", merchant='m "quoted" \\ é'), "approve"),
        # a request still carries its PAN (held as a SecretStr): it must not leak into the record
        (ScoreRequest.model_validate({**swipe(3).model_dump(), "pan": "4111 1111 1111 1111"}), "deny"),
    ],
    ids=["pos", "ecom-fraction-of-a-second", "no-location-escaped-merchant", "request-with-pan"],
)
def test_the_decided_swipe_is_the_swipe_record_byte_for_byte(
    details: SwipeDetails, decision: Literal["approve", "deny"]
) -> None:
    fields: dict[str, Any] = {name: getattr(details, name) for name in SwipeDetails.model_fields}
    expected = to_kafka(Swipe(**fields, card_token=TOKEN, decision=decision))
    value = decided_swipe_value(details, TOKEN, decision)
    assert value == expected
    assert b"4111" not in value
