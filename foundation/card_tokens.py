"""Card numbers at the edge: Luhn arithmetic, separators, and the card-token format (HMAC-SHA256).

A card is a token everywhere past the edge: `ct_` + 32 hex digits of HMAC-SHA256(key, value). A PAN
is hashed as its digits; a card value that is not a PAN (an account id in someone's file) is hashed
with a domain prefix, so it can never collide with a PAN's token.
"""

from __future__ import annotations

import hashlib
import hmac
import re

CARD_TOKEN_PREFIX = "ct_"
CARD_TOKEN_HEX = 32
CARD_TOKEN_PATTERN = rf"^{CARD_TOKEN_PREFIX}[0-9a-f]{{{CARD_TOKEN_HEX}}}$"
# What people type between a PAN's digits: blanks and dashes.
PAN_SEPARATORS = re.compile(r"[\s-]")
_DIGITS = re.compile(r"^[0-9]{13,19}$")
_ACCOUNT_DOMAIN = b"card-id:"


def luhn_check_digit(partial: str) -> str:
    """The digit that makes `partial` + digit pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    """True when `number` is 13 to 19 digits and passes the Luhn check."""
    if not _DIGITS.match(number):
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


def strip_separators(text: str) -> str:
    """`text` without the blanks and dashes people type between a card number's digits."""
    return PAN_SEPARATORS.sub("", text)


def normalize_pan(pan: str) -> str:
    """Strip the spaces and dashes people type; raise ValueError if what is left is not a PAN."""
    digits = strip_separators(pan)
    if not luhn_valid(digits):
        raise ValueError("not a valid card number (13-19 digits passing the Luhn check)")
    return digits


def _token(key: bytes, message: bytes) -> str:
    if not key:
        raise ValueError("tokenization key is empty; set FRAUDSTREAM_TOKEN_KEY")
    return CARD_TOKEN_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()[:CARD_TOKEN_HEX]


def tokenize_pan(pan: str, key: bytes) -> str:
    """A stable, non-reversible card token: `ct_` + 128 bits of HMAC-SHA256(key, PAN).

    The same PAN and key always give the same token, so features follow the card; without the key
    nobody can test guesses of PANs against a token.
    """
    return tokenize_normalized_pan(normalize_pan(pan), key)


def tokenize_normalized_pan(digits: str, key: bytes) -> str:
    """`tokenize_pan` of a PAN that `normalize_pan` already returned (a validated request's), unchecked."""
    return _token(key, digits.encode("ascii"))


def card_value_token(value: str, key: bytes) -> str:
    """The token of any card value: `tokenize_pan` for a PAN, a keyed hash of the value otherwise."""
    digits = strip_separators(value)
    if luhn_valid(digits):
        return tokenize_pan(digits, key)
    return _token(key, _ACCOUNT_DOMAIN + value.encode())
