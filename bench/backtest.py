"""`fraudstream-bench backtest`: backtest rows/s against reading the same file's columns, in the same run.

The file is the generator's labeled traffic with every fraud family (`fraudstream
generate-file`), or one given with `--file` in that layout. The first two thirds of its days train,
the rest is tested. Baselines measured in the same run: reading the mapped columns (pyarrow), and
mapping the rows to swipes (`services.replay.file.map_rows`) in one process.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console

from bench import machine, output
from bench.measure import ratio
from foundation.settings import StackSettings
from scoring.serving.settings import ScorerSettings
from services.backtest.data import BACKTEST_MAPPING, write_generated_history
from services.backtest.report import summary_rows
from services.backtest.run import BacktestSpec, Period, run_backtest, split_mapping
from services.replay.file import map_rows, read_chunks

START = datetime(2026, 5, 1, tzinfo=UTC)


def periods(first: date, last: date) -> tuple[Period, Period]:
    """The first two thirds of the days train, the rest tests."""
    days = (last - first).days + 1
    train_days = max(1, days * 2 // 3)
    train = Period(first, first + timedelta(days=train_days - 1))
    return train, Period(train.last + timedelta(days=1), last)


def read_seconds(path: Path) -> float:
    cmap, reported = split_mapping(BACKTEST_MAPPING)
    columns = list(dict.fromkeys([*cmap.columns().values(), *([reported] if reported else [])]))
    started = time.perf_counter()
    pq.read_table(path, columns=columns).to_pandas()
    return time.perf_counter() - started


def map_seconds(path: Path, token_key: bytes) -> float:
    cmap, _ = split_mapping(BACKTEST_MAPPING)
    tokens: dict[str, str] = {}  # card value -> token, across chunks, as the replay keeps it
    started, rows = time.perf_counter(), 0
    for chunk in read_chunks(path, list(dict.fromkeys(cmap.columns().values())), 50_000):
        map_rows(chunk, cmap, token_key, rows + 1, "bench", tokens)
        rows += len(chunk)
    return time.perf_counter() - started


def run(
    *,
    cards: int = 4400,
    days: float = 182.0,
    file: Path | None = None,
    workers: int = 2,
    kind: str = "logistic",
    json_path: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    console = console or Console()
    info = machine.describe()
    console.print(f"[bold]backtest bench[/] on {machine.summary(info)}")
    token_key = StackSettings().token_key.get_secret_value().encode()
    scorer = ScorerSettings()
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp_name:
        path = file or Path(tmp_name) / "history.parquet"
        if file is None:
            with console.status(f"generating {days:g} days of {cards:,} cards (every fraud family)"):
                started = time.perf_counter()
                write_generated_history(path, token_key, START, days=days, cards=cards)
                console.print(f"generated in {time.perf_counter() - started:.0f} s")
        meta = pq.read_table(path, columns=["time"]).column("time").to_pandas()
        train, test = periods(meta.min().date(), meta.max().date())
        rows = len(meta)
        console.print(
            f"{path.name}: {rows:,} rows; train {train.first}..{train.last}, test {test.first}..{test.last}"
        )
        with console.status("reading the mapped columns (baseline)"):
            raw_s = read_seconds(path)
        with console.status("mapping rows to swipes in one process"):
            map_s = map_seconds(path, token_key)
        spec = BacktestSpec(
            train,
            test,
            kind="gbm" if kind == "gbm" else "logistic",
            rules_path=scorer.rules_path,
            workers=workers,
        )
        with console.status(f"backtesting with {workers} worker(s)"):
            result = run_backtest(path, BACKTEST_MAPPING, spec, token_key, scorer.feature_config)
    rates = {name: rows / s if s > 0 else 0.0 for name, s in (("raw", raw_s), ("map", map_s))}
    rates["backtest"] = result.rows_per_s
    figures = {name: {"model": m, "baseline": b} for name, m, b in summary_rows(result)}
    out = {
        "bench": "backtest",
        "machine": info,
        "rows": rows,
        "workers": workers,
        "kind": spec.kind,
        "train": [str(train.first), str(train.last)],
        "test": [str(test.first), str(test.last)],
        "read": {"seconds": round(raw_s, 3), "rows_per_s": round(rates["raw"], 1)},
        "map_rows_one_process": {"seconds": round(map_s, 3), "rows_per_s": round(rates["map"], 1)},
        "backtest": {
            "seconds": round(result.total_seconds, 3),
            "rows_per_s": round(result.rows_per_s, 1),
            "stages_s": {k: round(v, 2) for k, v in result.seconds.items()},
        },
        "ratio_backtest_vs_read": round(ratio(rates["backtest"], rates["raw"]), 5),
        "figures": figures,
        "test_rows": result.test_rows,
        "test_fraud": result.test_fraud,
    }
    console.print(
        output.table(
            f"backtest of {rows:,} rows",
            ["run", "seconds", "rows/s", "ratio vs read"],
            [
                ["read the mapped columns (pyarrow)", f"{raw_s:.2f}", output.fmt(rates["raw"]), "1"],
                [
                    "map rows to swipes, 1 process",
                    f"{map_s:.2f}",
                    output.fmt(rates["map"]),
                    f"{ratio(rates['map'], rates['raw']):.4f}",
                ],
                [
                    f"fraudstream backtest, {workers} worker(s)",
                    f"{result.total_seconds:.2f}",
                    output.fmt(result.rows_per_s),
                    f"{out['ratio_backtest_vs_read']:.4f}",
                ],
            ],
        )
    )
    console.print(
        output.table("quality on the test period", ["", "model", "amount-only LR"], summary_rows(result))
    )
    output.finish(console, out, json_path)
    return out
