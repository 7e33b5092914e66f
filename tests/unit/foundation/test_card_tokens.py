"""Luhn arithmetic, separators and keyed-hash tokenization of PANs and other card values, as tables."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from foundation.card_tokens import (
    CARD_TOKEN_PATTERN,
    card_value_token,
    luhn_check_digit,
    luhn_valid,
    normalize_pan,
    tokenize_normalized_pan,
    tokenize_pan,
)

KEY = b"test-key"


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),
        ("4111111111111112", False),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("411111111111", False),  # 12 digits: too short
        ("41111111111111111111", False),  # 20 digits: too long
        ("4111-1111-1111-1111", False),  # luhn_valid wants bare digits
        ("", False),
    ],
)
def test_luhn_valid(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


@pytest.mark.parametrize("partial", ["411111111111111", "555555555555444", "37828224631000"])
def test_check_digit_completes_a_valid_number(partial: str) -> None:
    assert luhn_valid(partial + luhn_check_digit(partial))


def test_normalize_strips_separators_and_rejects_garbage() -> None:
    assert normalize_pan("4111 1111-1111 1111") == "4111111111111111"
    with pytest.raises(ValueError, match="Luhn"):
        normalize_pan("4111111111111112")


def test_token_is_stable_keyed_and_hides_the_pan() -> None:
    token = tokenize_pan("4111111111111111", KEY)
    assert token == tokenize_pan("4111 1111 1111 1111", KEY)
    assert token != tokenize_pan("4111111111111111", b"other-key")
    assert token != tokenize_pan("5555555555554444", KEY)
    assert token.startswith("ct_") and len(token) == 35
    assert "4111111111111111" not in token


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="FRAUDSTREAM_TOKEN_KEY"):
        tokenize_pan("4111111111111111", b"")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4111111111111111", tokenize_pan("4111111111111111", KEY)),
        ("4111 1111-1111 1111", tokenize_pan("4111111111111111", KEY)),
        ("378282246310005", tokenize_pan("378282246310005", KEY)),
    ],
)
def test_pans_are_tokenized_like_everywhere_else(value: str, expected: str) -> None:
    assert card_value_token(value, KEY) == expected


@pytest.mark.parametrize("value", ["ACC-0042", "4111111111111112", "12345"])
def test_other_card_ids_get_a_stable_keyed_token(value: str) -> None:
    token = card_value_token(value, KEY)
    assert token == card_value_token(value, KEY)
    assert token != card_value_token(value, b"other-key")
    assert pd.Series([token]).str.match(CARD_TOKEN_PATTERN).all()
    assert value not in token


@pytest.mark.parametrize(
    ("pan", "digits"),
    [
        ("4111111111111111", "4111111111111111"),
        ("4111 1111-1111 1111", "4111111111111111"),
        ("378282246310005", "378282246310005"),
        ("5555-5555-5555-4444", "5555555555554444"),
    ],
)
def test_a_token_is_the_first_128_bits_of_the_hmac_of_the_digits(pan: str, digits: str) -> None:
    expected = "ct_" + hmac.new(KEY, digits.encode(), hashlib.sha256).hexdigest()[:32]
    assert tokenize_pan(pan, KEY) == expected
    assert tokenize_normalized_pan(normalize_pan(pan), KEY) == expected
