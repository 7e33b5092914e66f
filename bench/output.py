"""Printing and saving results: a rich table on the console, the same figures as JSON on request."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import machine


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    out = Table(title=title)
    for i, col in enumerate(columns):
        out.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        out.add_row(*row)
    return out


def fmt(value: float, digits: int = 0) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"  # NaN -> "-"


def finish(console: Console, result: dict[str, Any], json_path: Path | None) -> None:
    """Stamp the machine's load at the end, print it, and write the JSON when asked."""
    result["machine_after"] = machine.describe()
    console.print(f"load average at the end: {', '.join(map(str, result['machine_after']['loadavg']))}")
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        console.print(f"wrote {json_path}")
