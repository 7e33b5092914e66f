"""Card numbers at the edge: Luhn arithmetic and keyed-hash tokenization (HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import re

_DIGITS = re.compile(r"^[0-9]{13,19}$")


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


def normalize_pan(pan: str) -> str:
    """Strip the spaces and dashes people type; raise ValueError if what is left is not a PAN."""
    digits = re.sub(r"[\s-]", "", pan)
    if not luhn_valid(digits):
        raise ValueError("not a valid card number (13-19 digits passing the Luhn check)")
    return digits


def tokenize_pan(pan: str, key: bytes) -> str:
    """A stable, non-reversible card token: `ct_` + 128 bits of HMAC-SHA256(key, PAN).

    The same PAN and key always give the same token, so features follow the card; without the key
    nobody can test guesses of PANs against a token.
    """
    if not key:
        raise ValueError("tokenization key is empty; set FRAUDSTREAM_TOKEN_KEY")
    digest = hmac.new(key, normalize_pan(pan).encode("ascii"), hashlib.sha256).hexdigest()
    return "ct_" + digest[:32]
