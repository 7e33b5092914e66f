"""The embedded broker's pure parts."""

from __future__ import annotations

import base64

from services.kafka.broker import new_cluster_id


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    # 0xF8 encodes to "-" first in URL-safe base64: StorageTool would take that id for an option.
    draws = iter([b"\xf8" + bytes(15), b"\xfb" * 16, b"\x01" * 16])
    assert base64.urlsafe_b64encode(b"\xf8" + bytes(15)).decode().startswith("-")
    got = new_cluster_id(lambda: next(draws))
    assert got == base64.urlsafe_b64encode(b"\x01" * 16).decode().rstrip("=")
    assert next(draws, None) is None, "the two ids that start with a dash were both skipped"


def test_random_cluster_ids_are_22_url_safe_characters() -> None:
    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
