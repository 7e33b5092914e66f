"""`fraudstream-bench backtest`: backtest rows/s against reading the same file's columns, in the same run.

The file is the generator's labeled traffic with every fraud family (`fraudstream
generate-file`), or one given with `--file` in that layout. The first two thirds of its days train,
the rest is tested. Baselines measured in the same run: reading the mapped columns (pyarrow), and
mapping the rows to swipes (`services.replay.file.map_rows`) in one process.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from bench import machine, output
from bench.measure import ratio
from foundation.settings import StackSettings
from scoring.serving.settings import ScorerSettings
from services.backtest.data import BACKTEST_MAPPING, write_generated_history
from services.backtest.report import summary_rows
from services.backtest.run import BacktestResult, BacktestSpec, Period, run_backtest, split_mapping
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


@dataclass(frozen=True)
class _Measured:
    """One run's file, periods, baselines and backtest."""

    rows: int
    train: Period
    test: Period
    raw_s: float  # reading the mapped columns
    map_s: float  # mapping the rows to swipes, one process
    spec: BacktestSpec
    result: BacktestResult

    @property
    def rates(self) -> dict[str, float]:
        rates = {
            name: self.rows / s if s > 0 else 0.0 for name, s in (("raw", self.raw_s), ("map", self.map_s))
        }
        rates["backtest"] = self.result.rows_per_s
        return rates


def _history(path: Path, token_key: bytes, days: float, cards: int, console: Console) -> None:
    with console.status(f"generating {days:g} days of {cards:,} cards (every fraud family)"):
        started = time.perf_counter()
        write_generated_history(path, token_key, START, days=days, cards=cards)
        console.print(f"generated in {time.perf_counter() - started:.0f} s")


def _measure(
    path: Path, token_key: bytes, scorer: ScorerSettings, workers: int, kind: str, console: Console
) -> _Measured:
    """The two baselines, then the backtest of `path` (two thirds of its days train, the rest tests)."""
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
    return _Measured(rows, train, test, raw_s, map_s, spec, result)


def _summary(m: _Measured, info: dict[str, Any]) -> dict[str, Any]:
    """The run as the bench's JSON."""
    rates, result = m.rates, m.result
    return {
        "bench": "backtest",
        "machine": info,
        "rows": m.rows,
        "workers": m.spec.workers,
        "kind": m.spec.kind,
        "train": [str(m.train.first), str(m.train.last)],
        "test": [str(m.test.first), str(m.test.last)],
        "read": {"seconds": round(m.raw_s, 3), "rows_per_s": round(rates["raw"], 1)},
        "map_rows_one_process": {"seconds": round(m.map_s, 3), "rows_per_s": round(rates["map"], 1)},
        "backtest": {
            "seconds": round(result.total_seconds, 3),
            "rows_per_s": round(result.rows_per_s, 1),
            "stages_s": {k: round(v, 2) for k, v in result.seconds.items()},
        },
        "ratio_backtest_vs_read": round(ratio(rates["backtest"], rates["raw"]), 5),
        "figures": {name: {"model": mv, "baseline": b} for name, mv, b in summary_rows(result)},
        "test_rows": result.test_rows,
        "test_fraud": result.test_fraud,
    }


def _speed_table(m: _Measured, ratio_vs_read: float) -> Table:
    rates = m.rates
    return output.table(
        f"backtest of {m.rows:,} rows",
        ["run", "seconds", "rows/s", "ratio vs read"],
        [
            ["read the mapped columns (pyarrow)", f"{m.raw_s:.2f}", output.fmt(rates["raw"]), "1"],
            [
                "map rows to swipes, 1 process",
                f"{m.map_s:.2f}",
                output.fmt(rates["map"]),
                f"{ratio(rates['map'], rates['raw']):.4f}",
            ],
            [
                f"fraudstream backtest, {m.spec.workers} worker(s)",
                f"{m.result.total_seconds:.2f}",
                output.fmt(m.result.rows_per_s),
                f"{ratio_vs_read:.4f}",
            ],
        ],
    )


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
            _history(path, token_key, days, cards, console)
        measured = _measure(path, token_key, scorer, workers, kind, console)
    out = _summary(measured, info)
    console.print(_speed_table(measured, out["ratio_backtest_vs_read"]))
    console.print(
        output.table(
            "quality on the test period", ["", "model", "amount-only LR"], summary_rows(measured.result)
        )
    )
    output.finish(console, out, json_path)
    return out
