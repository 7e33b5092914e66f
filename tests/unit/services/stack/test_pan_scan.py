"""The PAN scan: finds card numbers in any framing, ignores timestamps, reports them masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.stack.pan_scan import find_pans, mask, scan_bytes, scan_tree


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b'{"pan":"4111111111111111"}', ["4111111111111111"]),
        (b"card 5555555555554444, next", ["5555555555554444"]),
        (b"amex 378282246310005", ["378282246310005"]),
        (b"4111111111111112", []),  # fails the Luhn check
        (b"1795751748697", []),  # epoch milliseconds: not a card prefix
        (b"14111111111111111", []),  # glued to another digit: part of a longer number
        (b"ct_4111111111111111", ["4111111111111111"]),  # letters around it do not hide it
        (b'"amount_mean": 0.4111111111111111', []),  # the fraction of a float
        (b'"card_token":"ct_4111111111111111abcdef0123456789"', []),  # a hex token, not a PAN
    ],
)
def test_find_pans(data: bytes, found: list[str]) -> None:
    assert [n for _, n in find_pans(data)] == found


def test_known_pans_are_found_even_inside_digit_runs_and_reported_masked(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "segment.log").write_bytes(b"\x00\x019" + b"4111111111111111" + b"7\x00")
    (tmp_path / "clean.json").write_bytes(b'{"card_token":"ct_0123"}')
    hits = scan_tree(tmp_path, known=["4111111111111111"])
    assert [(Path(h.where).name, h.masked) for h in hits] == [("segment.log", "411111******1111")]
    assert "4111111111111111" not in repr(hits)


def test_mask_keeps_six_and_four() -> None:
    assert mask("378282246310005") == "378282*****0005"
    assert scan_bytes("x", b"nothing here") == []


def test_binary_files_are_searched_for_known_pans_only(tmp_path: Path) -> None:
    (tmp_path / "state.changelog").write_bytes(b"\x00\xf2\x026526380957324005}\x00")  # compressed noise
    assert scan_tree(tmp_path) == []
    (tmp_path / "state.changelog").write_bytes(b"\x00" + b"5555555555554444")
    assert [h.masked for h in scan_tree(tmp_path, known=["5555555555554444"])] == ["555555******4444"]


def test_parquet_is_decoded_before_the_scan(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"card": ["4111111111111111"], "n": [1]}), tmp_path / "part-0.parquet")
    assert [h.masked for h in scan_tree(tmp_path)] == ["411111******1111"]


def test_a_file_a_live_writer_removes_during_the_scan_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spark renames its `.tmp` checkpoint files away while the scan runs; the rest is still read."""
    (tmp_path / "..1.tmp.crc").write_bytes(b"gone before the read")
    (tmp_path / "log.txt").write_bytes(b"pan 4111111111111111")
    read_bytes = Path.read_bytes

    def racing_read(self: Path) -> bytes:
        if self.name.endswith(".tmp.crc"):
            self.unlink()
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", racing_read)
    assert [Path(h.where).name for h in scan_tree(tmp_path)] == ["log.txt"]
