"""Look for card numbers in clear: Luhn-valid 13-19 digit runs with a card-network prefix."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from foundation.card_tokens import CARD_TOKEN_PATTERN, luhn_valid

# A digit run not glued to other digits, nor the fraction of a decimal number. Card networks'
# numbers start with 2-6 (Mastercard 2/5, Visa 4, Amex 3, Discover 6); epoch milliseconds do not.
_RUN = re.compile(rb"(?<![0-9.])[2-6][0-9]{12,18}(?![0-9])")


@dataclass(frozen=True)
class PanHit:
    where: str
    offset: int
    masked: str  # first 6 and last 4 digits only: the scan report must not leak what it found


# Our own card tokens are hex: a long run of decimal digits inside one is not a card number.
_TOKEN = re.compile(CARD_TOKEN_PATTERN.strip("^$").encode())


def find_pans(data: bytes) -> Iterator[tuple[int, str]]:
    """(offset, number) of every Luhn-valid 13-19 digit run in `data`, outside card tokens."""
    data = _TOKEN.sub(lambda m: b"x" * len(m.group()), data)
    for match in _RUN.finditer(data):
        number = match.group().decode("ascii")
        if luhn_valid(number):
            yield match.start(), number


def mask(number: str) -> str:
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


def scan_bytes(where: str, data: bytes, known: Iterable[str] = (), generic: bool = True) -> list[PanHit]:
    """Hits in `data`: Luhn-valid runs (if `generic`), plus exact occurrences of `known` PANs."""
    hits = {(off, num) for off, num in find_pans(data)} if generic else set()
    for pan in known:
        start = 0
        needle = pan.encode("ascii")
        while (off := data.find(needle, start)) != -1:
            hits.add((off, pan))
            start = off + 1
    return [PanHit(where, off, mask(num)) for off, num in sorted(hits)]


def _parquet_text(path: Path) -> bytes:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return "\n".join(str(v) for column in table.columns for v in column.to_pylist()).encode()


def scan_tree(root: Path, known: Iterable[str] = ()) -> list[PanHit]:
    """Scan every file below `root` (Delta tables, checkpoints, Kafka segments, logs).

    Text files get the full scan. Parquet files (Delta data) are decoded first, then fully scanned.
    Other binary files (RocksDB changelogs, compressed Kafka segments) are compressed: random digit
    runs across compressed blocks would be false alarms, and a number inside one could be missed,
    so they are searched for the `known` PANs only. That is the limit of a file scan; scanning the
    topics through a consumer and the tables through a reader covers the content itself.

    The tree may be live: a file that a running writer renames or deletes between the listing
    and the read (Spark's `.tmp` checkpoint files, a rolled Kafka segment) is skipped, since its
    content is in the file that replaced it.
    """
    known = list(known)
    hits: list[PanHit] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if path.suffix == ".parquet" and data:
            try:
                text = _parquet_text(path)
            except Exception:  # a file cut short by a killed writer: fall back to the byte search
                hits += scan_bytes(str(path), data, known, generic=False)
            else:
                hits += scan_bytes(str(path), text, known)
        elif b"\x00" in data[:8192]:
            hits += scan_bytes(str(path), data, known, generic=False)
        else:
            hits += scan_bytes(str(path), data, known)
    return hits
