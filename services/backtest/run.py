"""`fraudstream backtest`: train on one period of a labeled file, score the next exactly as the scorer would.

    file rows   ......history......|====== train ======|  delay  |====== test ======|  (later: dropped)
    features    folded over everything up to the test's end, in event-time order, per card
    labels      train rows only, and only those known when the test starts (the model goes live)
    scores      every test row, by the trained artifact (as the scorer runs it) and the rules

The delay (`--delay 7d`) is the field's gap between train and test: the model is trained as of the
test's start, so the train period's chargebacks have had the delay to arrive, and the delay's own
swipes are neither examples nor scored. A fraud label is known from its report time (the
`reported=COL` mapping key, a backtest addition to `replay --file`'s keys) or, without one, from
the swipe's own time, as `replay --file` publishes labels: then every fraud inside the train period
counts as known when training. As with `fraudstream train --source delta`, a fraud reported after
the training time trains as legitimate, and `label_delay` leaves out the swipes too young (at that
time) to have settled.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import queue
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.serving.model import ModelArtifact, input_names
from scoring.training.selection import Selection
from scoring.training.training_set import LabelCutoff
from services.backtest.bootstrap import KnownCards, Unit
from services.backtest.features import (
    CARD_KEY,
    ROW_COLUMN,
    TIME_KEY,
    VERDICT_DENY,
    FeatureTable,
    card_keys,
    concat,
    feature_rows,
    worker_of,
)
from services.backtest.merchant import file_fields, merchant_rows
from services.backtest.metrics import ModelEval, Resampling, evaluate
from services.backtest.model import (
    AmountBaseline,
    ModelKind,
    decisions,
    score_rows,
    train_amount_baseline,
    train_model,
)
from services.replay.file import ColumnMap, MappingError, _times, parse_mapping, read_chunks
from streaming.card_state import FeatureConfig
from streaming.merchant_state import DEFAULT_MERCHANT, MerchantConfig

REPORTED_KEY = "reported"
SCENARIO_KEY = "scenario"  # each fraud's family or label kind, for the report's breakdown
EXTRA_KEYS = (REPORTED_KEY, SCENARIO_KEY)


@dataclass(frozen=True)
class Period:
    """Whole UTC days, `first` to `last` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, datetime.min.time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=(self.last - self.first).days + 1)

    def contains(self, t: np.ndarray) -> np.ndarray:
        return np.asarray((t >= self.start.timestamp()) & (t < self.end.timestamp()))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def period_after_delay(train: Period, delay: timedelta, days: int | None = None) -> Period:
    """The test period of `days` (default: the train period's length) starting `delay` after `train`.

    Periods are whole UTC days, so the test starts on the first midnight at or after the train
    period's end plus the delay: `12h` after a period ending at midnight starts the day after.
    """
    if delay < timedelta(0):
        raise ValueError(f"the delay between train and test must be 0 or more, got {delay}")
    length = train.days if days is None else days
    if length < 1:
        raise ValueError(f"the test period needs at least one day, got {length}")
    first = train.last + timedelta(days=1 + math.ceil(delay / timedelta(days=1)))
    return Period(first, first + timedelta(days=length - 1))


@dataclass(frozen=True)
class BacktestSpec:
    train: Period
    test: Period
    kind: ModelKind = "auto"
    merchant: MerchantConfig | None = DEFAULT_MERCHANT  # None: no merchant inputs
    rules_path: Path | None = None  # the scorer's rules; None: the model alone
    workers: int = 2
    k: int = 100
    seed: int = 0
    label_delay: timedelta = timedelta(0)  # train swipes younger than this at the test's start: no example
    bootstrap: int = 200  # resamples for the confidence intervals; 0: none
    bootstrap_unit: Unit = "card"
    confidence: float = 0.95
    known_cards: KnownCards = "reported"  # which cards card precision leaves out: reported, or found

    @property
    def delay(self) -> timedelta:
        """The gap between the train period's end and the test's start (when the model is trained)."""
        return self.test.start - self.train.end

    def __post_init__(self) -> None:
        if self.train.last < self.train.first or self.test.last < self.test.first:
            raise ValueError("a period's first day must not be after its last day")
        if self.test.first <= self.train.last:
            raise ValueError(
                f"the test period ({self.test.first}) must start after the train period ends "
                f"({self.train.last}); otherwise the model is scored on what it learned from"
            )
        if not timedelta(0) <= self.label_delay < self.test.start - self.train.start:
            raise ValueError(
                f"the label delay ({self.label_delay}) leaves no settled swipe in the train period; "
                "shorten it, lengthen --delay or start the train period earlier"
            )
        if self.bootstrap < 0 or not 0 < self.confidence < 1:
            raise ValueError("--bootstrap must be 0 or more and the confidence level between 0 and 1")


@dataclass
class BacktestResult:
    spec: BacktestSpec
    file: str
    id_column: str
    rows_read: int
    rows_used: int  # up to the test period's end
    bad_rows: int
    train_rows: int
    train_fraud_known: int
    test_rows: int
    test_fraud: int
    artifact: ModelArtifact
    model: ModelEval
    baseline: ModelEval
    rule_denials: int  # test swipes denied by a rule whatever the score
    seconds: dict[str, float] = field(default_factory=dict)
    fields: tuple[str, ...] = ()  # the optional swipe fields the file carries, the model's inputs read
    candidates: dict[str, ModelEval] = field(default_factory=dict)  # every fitted kind, on the test rows
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)  # id, score, decision per test row

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.total_seconds if self.total_seconds > 0 else 0.0


Progress = Callable[[str, int, int | None], None]  # (stage, rows done in the stage, stage total)


def split_extras(text: str) -> tuple[ColumnMap, dict[str, str]]:
    """`replay --file`'s mapping, plus the backtest's own optional keys (`EXTRA_KEYS`): key -> column.

    `reported=COL`: when each fraud label became known; `scenario=COL`: its family, for a breakdown.
    """
    parts, extras = [], {}
    for part in (p.strip() for p in text.split(",")):
        key, _, column = (s.strip() for s in part.partition("="))
        if key in EXTRA_KEYS:
            if column:
                extras[key] = column
        elif part:
            parts.append(part)
    cmap = parse_mapping(",".join(parts))
    if cmap.label is None:
        raise MappingError("a backtest needs labels: add label=COL to --map")
    return cmap, extras


def split_mapping(text: str) -> tuple[ColumnMap, str | None]:
    """`split_extras` with only the `reported=COL` column (None when not mapped)."""
    cmap, extras = split_extras(text)
    return cmap, extras.get(REPORTED_KEY)


def read_file(path: Path, cmap: ColumnMap, reported: str | None, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The mapped columns (all rows, plus `extra` ones), the row number, the card key and the parsed time."""
    wanted = [*cmap.columns().values(), *([reported] if reported else []), *extra]
    columns = list(dict.fromkeys(wanted))
    frame = pd.concat(list(read_chunks(path, columns, 500_000)), ignore_index=True)
    frame[ROW_COLUMN] = pd.Series(np.arange(1, len(frame) + 1)).astype(str).to_numpy()
    frame[CARD_KEY] = card_keys(frame[cmap.card])
    frame[TIME_KEY] = _times(frame[cmap.time]).dt.floor("us")
    return frame


def run_features(
    frame: pd.DataFrame,
    cmap: ColumnMap,
    token_key: bytes,
    config: FeatureConfig,
    rules_path: Path | None,
    workers: int,
    progress: Callable[[int], None],
) -> FeatureTable:
    """`feature_rows` over `frame`, its cards split across `workers` processes (1: in this process)."""
    width = len(input_names(config))
    if workers <= 1:
        return concat([feature_rows(frame, cmap, token_key, config, rules_path, progress)], width)
    part = worker_of(frame[CARD_KEY], workers)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process running a progress thread
    done: Any = ctx.Queue()
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(done,)) as pool:
        futures = [
            pool.submit(_worker, frame[part == w], cmap, token_key, config, rules_path)
            for w in range(workers)
        ]
        while not all(f.done() for f in futures):
            with contextlib.suppress(queue.Empty):
                progress(done.get(timeout=0.25))
        tables = [f.result() for f in futures]
    return concat(tables, width)


_done: Any = None


def _init_worker(done: Any) -> None:
    global _done
    _done = done


def _worker(
    frame: pd.DataFrame, cmap: ColumnMap, key: bytes, config: FeatureConfig, rules_path: Path | None
) -> FeatureTable:
    return feature_rows(frame, cmap, key, config, rules_path, lambda n: _done.put(n))


def label_known_at(frame: pd.DataFrame, table: FeatureTable, reported: str | None) -> np.ndarray:
    """Per row of `table`: when its fraud label became known (epoch s); NaN for legitimate rows."""
    known = np.where(table.y, table.t, np.nan)
    if reported is not None:
        # `frame` keeps the file's 0-based row as its index; a missing report keeps the swipe's time.
        at = (_times(frame[reported]) - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        by_row = at.reindex(table.row - 1).to_numpy(dtype="float64")
        use = table.y & ~np.isnan(by_row)
        known[use] = by_row[use]
    return known


@dataclass
class _Folded:
    """The feature table of the rows used, and the inputs it carries (the columns of `table.x`)."""

    table: FeatureTable
    fields: tuple[str, ...]
    merchant: MerchantConfig | None
    names: list[str]


def _fold(
    frame: pd.DataFrame,
    cmap: ColumnMap,
    reported: str | None,
    spec: BacktestSpec,
    token_key: bytes,
    config: FeatureConfig,
    progress: Progress,
) -> _Folded:
    """The card features of every row, plus the merchant ones when the file names merchants."""
    progress("features", 0, len(frame))
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        progress("features", done[0], len(frame))

    table = run_features(frame, cmap, token_key, config, spec.rules_path, spec.workers, advance)
    # Inputs follow the data: what the file lacks (or holds one value of) is no input.
    fields = file_fields(frame, cmap)
    merchant = spec.merchant if "merchant" in fields else None
    if merchant is not None:
        progress("merchant features", 0, None)
        by_row = merchant_rows(frame, cmap, reported, token_key, merchant, spec.workers)
        table.x = np.hstack([table.x, by_row.reindex(table.row).to_numpy(dtype=np.float64)])
    return _Folded(table, fields, merchant, list(input_names(config, merchant)))


@dataclass
class _Split:
    train: FeatureTable
    test: FeatureTable
    known: np.ndarray  # per train row: a fraud whose label was known when the model was trained


def _split(table: FeatureTable, known_at: np.ndarray, spec: BacktestSpec, path: Path) -> _Split:
    """The train and test rows, and which train frauds were known at the test's start."""
    # As `fraudstream train --source delta` does: train as of the test's start (the train period's end
    # plus the delay), only on swipes whose chargeback had time to arrive, with the labels reported by then.
    cutoff = LabelCutoff(spec.test.start, spec.label_delay)
    train = spec.train.contains(table.t) & (table.t < cutoff.settled_before.timestamp())
    test = spec.test.contains(table.t)
    train_table, test_table = table.take(np.flatnonzero(train)), table.take(np.flatnonzero(test))
    if not len(test_table):
        raise ValueError(
            f"no transaction of {path.name} falls in the test period {spec.test.first}..{spec.test.last} "
            f"({len(table):,} mapped rows, {len(table.bad):,} bad); check the test dates and --map time="
        )
    known = train_table.y & (known_at[train] <= cutoff.as_of.timestamp())
    return _Split(train_table, test_table, known)


def _train(
    split: _Split, folded: _Folded, spec: BacktestSpec, config: FeatureConfig
) -> tuple[Selection, AmountBaseline]:
    """The model of `spec.kind` (as `fraudstream train` fits it) and the amount-only baseline."""
    selection = train_model(
        split.train,
        split.known,
        folded.names,
        spec.kind,
        (spec.train.start, spec.train.end),
        spec.seed,
        config,
        folded.merchant,
        folded.fields,
        spec.label_delay,
    )
    amount = split.train.x[:, folded.names.index("amount_log")]
    return selection, train_amount_baseline(amount, split.known, spec.seed)


@dataclass
class _Evals:
    model: ModelEval
    baseline: ModelEval
    candidates: dict[str, ModelEval]


def _evaluate_kinds(
    folded: _Folded,
    known_at: np.ndarray,
    test: FeatureTable,
    selection: Selection,
    baseline: AmountBaseline,
    scores: np.ndarray,
    decided: np.ndarray,
    scenario: np.ndarray | None,
    spec: BacktestSpec,
) -> _Evals:
    """The chosen model, the amount-only baseline and every other fitted kind, on the test rows."""
    artifact, names = selection.chosen, folded.names
    first_known = pd.Series(known_at).groupby(folded.table.card).min().dropna().to_dict()
    before = spec.test.start.timestamp()
    resampling = Resampling(spec.bootstrap, spec.bootstrap_unit, spec.confidence, spec.seed)

    def judge(label: str, s: np.ndarray, threshold: float, flags: np.ndarray, **extra: Any) -> ModelEval:
        return evaluate(label, test, s, threshold, flags, first_known, spec.k, before, **extra)

    full: dict[str, Any] = {"resampling": resampling, "scenario": scenario, "known_cards": spec.known_cards}
    model_eval = judge("model", scores, artifact.threshold, decided == "deny", **full)
    base_scores = baseline.scores(test.x[:, names.index("amount_log")])
    base_flags = base_scores >= baseline.threshold
    base_eval = judge("amount-only LR", base_scores, baseline.threshold, base_flags, **full)
    candidates: dict[str, ModelEval] = {artifact.kind: model_eval}
    for kind, fitted in selection.fitted.items():
        if kind != artifact.kind:  # how the kind not kept would have done on the test rows
            s = score_rows(fitted, test, names)
            flags = decisions(test.verdict, s, fitted.threshold) == "deny"
            candidates[kind] = judge(kind, s, fitted.threshold, flags)
    return _Evals(model_eval, base_eval, candidates)


def _score_frame(
    frame: pd.DataFrame,
    cmap: ColumnMap,
    id_column: str,
    test: FeatureTable,
    scores: np.ndarray,
    decided: np.ndarray,
) -> pd.DataFrame:
    """id, score and decision per test row, in the file's row order."""
    ids = frame[cmap.id].reindex(test.row - 1).to_numpy() if cmap.id else test.row
    out = pd.DataFrame({id_column: ids, "score": scores, "decision": decided})
    return out.iloc[np.argsort(test.row, kind="stable")].reset_index(drop=True)


def run_backtest(
    path: Path,
    mapping: str,
    spec: BacktestSpec,
    token_key: bytes,
    config: FeatureConfig,
    *,
    progress: Progress = lambda stage, done, total: None,
    clock: Callable[[], float] = time.perf_counter,
) -> BacktestResult:
    """Read, fold, train, score and evaluate; nothing is written (see `write_scores`)."""
    cmap, extras = split_extras(mapping)
    reported, scenario_column = extras.get(REPORTED_KEY), extras.get(SCENARIO_KEY)
    seconds: dict[str, float] = {}
    t0 = clock()
    frame = read_file(path, cmap, reported, (scenario_column,) if scenario_column else ())
    rows_read = len(frame)
    frame = frame[~(frame[TIME_KEY] >= pd.Timestamp(spec.test.end))]  # later rows change nothing before it
    seconds["read"], t0 = clock() - t0, clock()
    folded = _fold(frame, cmap, reported, spec, token_key, config, progress)
    table = folded.table
    seconds["features"], t0 = clock() - t0, clock()

    known_at = label_known_at(frame, table, reported)
    split = _split(table, known_at, spec, path)
    test = split.test
    progress("training", 0, None)
    selection, baseline = _train(split, folded, spec, config)
    artifact = selection.chosen
    seconds["training"], t0 = clock() - t0, clock()

    progress("scoring", 0, len(test))
    scores = score_rows(artifact, test, folded.names, lambda n: progress("scoring", n, len(test)))
    decided = decisions(test.verdict, scores, artifact.threshold)
    scenario = (
        frame[scenario_column].reindex(test.row - 1).to_numpy(dtype=object) if scenario_column else None
    )
    progress("bootstrap", 0, None)
    evals = _evaluate_kinds(folded, known_at, test, selection, baseline, scores, decided, scenario, spec)
    seconds["scoring"] = clock() - t0
    id_column = cmap.id or "row"
    out = _score_frame(frame, cmap, id_column, test, scores, decided)
    return BacktestResult(
        spec=spec,
        file=str(path),
        id_column=id_column,
        rows_read=rows_read,
        rows_used=len(frame),
        bad_rows=len(table.bad),
        train_rows=len(split.train),
        train_fraud_known=int(split.known.sum()),
        test_rows=len(test),
        test_fraud=int(test.y.sum()),
        artifact=artifact,
        model=evals.model,
        baseline=evals.baseline,
        rule_denials=int((test.verdict == VERDICT_DENY).sum()),
        seconds=seconds,
        fields=folded.fields,
        candidates=evals.candidates,
        scores=out,
    )


def write_scores(scores: pd.DataFrame, path: Path) -> None:
    """The scores as CSV or Parquet, by the path's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        scores.to_parquet(path, index=False)
    elif suffix == ".csv":
        scores.to_csv(path, index=False, float_format="%.9g")
    else:
        raise ValueError(f"--scores {path}: name it .csv or .parquet")
