"""Look for card numbers in clear: Luhn-valid 13-19 digit runs with a card-network prefix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from services.tokenize import luhn_valid

# A digit run not glued to other digits, nor the fraction of a decimal number. Card networks'
# numbers start with 2-6 (Mastercard 2/5, Visa 4, Amex 3, Discover 6); epoch milliseconds do not.
_RUN = re.compile(rb"(?<![0-9.])[2-6][0-9]{12,18}(?![0-9])")


@dataclass(frozen=True)
class PanHit:
    where: str
    offset: int
    masked: str  # first 6 and last 4 digits only: the scan report must not leak what it found


def find_pans(data: bytes) -> Iterator[tuple[int, str]]:
    """(offset, number) of every Luhn-valid 13-19 digit run in `data`."""
    for match in _RUN.finditer(data):
        number = match.group().decode("ascii")
        if luhn_valid(number):
            yield match.start(), number


def mask(number: str) -> str:
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


def scan_bytes(where: str, data: bytes, known: Iterable[str] = ()) -> list[PanHit]:
    """Hits in `data`: Luhn-valid runs, plus exact occurrences of `known` PANs however they are framed."""
    hits = {(off, num) for off, num in find_pans(data)}
    for pan in known:
        start = 0
        needle = pan.encode("ascii")
        while (off := data.find(needle, start)) != -1:
            hits.add((off, pan))
            start = off + 1
    return [PanHit(where, off, mask(num)) for off, num in sorted(hits)]


def scan_tree(root: Path, known: Iterable[str] = ()) -> list[PanHit]:
    """Scan every file below `root` (Delta tables, checkpoints, Kafka segments, logs)."""
    known = list(known)
    hits: list[PanHit] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hits += scan_bytes(str(path), path.read_bytes(), known)
    return hits
