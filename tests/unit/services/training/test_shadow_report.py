"""The shadow report's printed rows, from a comparison."""

from __future__ import annotations

from datetime import UTC, datetime

from scoring.training.shadow_compare import PairedDecision, compare
from services.training.shadow_report import report_rows

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_report_rows_show_both_sides_and_the_change_in_denials() -> None:
    c = compare(
        [
            PairedDecision("a", T0, "deny", "deny", True),
            PairedDecision("b", T0, "approve", "deny", None),
            PairedDecision("c", T0, "approve", "deny", True),
            PairedDecision("d", T0, "approve", "approve", None),
        ]
    )
    rows = {name: (champion, challenger) for name, champion, challenger in report_rows(c)}
    assert rows["agreement"] == ("0.500", "0.500")
    assert rows["denials"] == ("1", "3 (+2)")
    assert rows["precision"] == ("1.000", "0.667")
    assert rows["recall"] == ("0.500", "1.000")


def test_report_rows_before_any_label_say_unknown() -> None:
    rows = {n: (a, b) for n, a, b in report_rows(compare([PairedDecision("a", T0, "deny", "approve")]))}
    assert rows["precision"] == ("-", "-") and rows["recall"] == ("-", "-")
    assert rows["denials"] == ("1", "0 (-1)")
