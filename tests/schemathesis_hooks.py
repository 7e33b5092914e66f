"""schemathesis hooks (loaded by schemathesis.toml): values for the formats our OpenAPI document names.

`pan` has the format `card-number`: 13-19 digits passing the Luhn check, which JSON Schema cannot
express. Without this, `schemathesis run` would send arbitrary strings as schema-valid card numbers.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

from foundation.card_tokens import luhn_check_digit
from scoring.serving.api import PAN_FORMAT


def _card_number(partial: str, spaced: bool) -> str:
    digits = partial + luhn_check_digit(partial)
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4)) if spaced else digits


schemathesis.openapi.format(
    PAN_FORMAT, st.builds(_card_number, st.text("0123456789", min_size=12, max_size=18), st.booleans())
)
