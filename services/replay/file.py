"""Replay a CSV or Parquet file of transactions onto the swipes (and labels) topics, event times kept.

The column mapping (`card=COL,amount=COL,time=COL,...`) and the row mapping are pure; only
`replay_file` touches Kafka. Card values are tokenized before anything leaves the process, and
every row that cannot become a valid swipe is counted with its reason, never silently dropped.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from foundation.card_tokens import card_value_token
from foundation.settings import StackSettings
from foundation.topics import ensure_topics
from services.generator.publish import LabelPublisher, SwipePublisher, check_reachable
from streaming.schema import Label, Swipe

REQUIRED_KEYS = ("card", "amount", "time")
MAP_EXAMPLE = "--map card=pan,amount=amount,time=ts"
TRUE_LABELS = frozenset({"1", "true", "yes", "y", "fraud", "t"})
FALSE_LABELS = frozenset({"0", "false", "no", "n", "legit", "genuine", "f"})
LABEL_SCENARIO = "file"


class MappingError(ValueError):
    """The --map string or the file's columns do not fit; the message names the key or column."""


@dataclass(frozen=True)
class ColumnMap:
    """Which file column feeds each swipe field; optional ones fall back to `DEFAULTS`."""

    card: str
    amount: str
    time: str
    merchant: str | None = None
    label: str | None = None
    id: str | None = None
    country: str | None = None
    mcc: str | None = None
    currency: str | None = None
    channel: str | None = None
    lat: str | None = None
    lon: str | None = None

    def columns(self) -> dict[str, str]:
        """key -> column, for the keys that are mapped."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


DEFAULTS = {"merchant": "unknown", "country": "ZZ", "mcc": "5999", "currency": "EUR", "channel": "pos"}
KEYS = tuple(f.name for f in fields(ColumnMap))


def parse_mapping(text: str) -> ColumnMap:
    """Parse `card=COL,amount=COL,time=COL[,merchant=COL,...]`; MappingError says what is wrong."""
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, column = (s.strip() for s in part.partition("="))
        if not sep or not key or not column:
            raise MappingError(f"--map entry {part!r} is not KEY=COLUMN; e.g. {MAP_EXAMPLE}")
        if key not in KEYS:
            raise MappingError(f"--map key {key!r} is unknown; known keys: {', '.join(KEYS)}")
        if key in pairs:
            raise MappingError(f"--map key {key!r} is given twice ({pairs[key]!r} and {column!r})")
        pairs[key] = column
    missing = [k for k in REQUIRED_KEYS if k not in pairs]
    if missing:
        raise MappingError(f"--map is missing required key(s) {', '.join(missing)}; e.g. {MAP_EXAMPLE}")
    return ColumnMap(**pairs)


@dataclass(frozen=True)
class BadRow:
    row: int  # 1-based data row (CSV line number minus the header)
    key: str  # the mapping key (or swipe field) at fault
    reason: str


@dataclass
class MappedChunk:
    swipes: list[Swipe] = field(default_factory=list)
    labels: list[bool | None] = field(default_factory=list)  # per swipe: the label column's value
    bad: list[BadRow] = field(default_factory=list)


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    s = frame[column]
    if pd.api.types.is_float_dtype(s) and s.dropna().mod(1).eq(0).all():
        s = s.astype("Int64")  # 4111111111111111.0 read as a float is still a card number
    return s.astype("string").fillna("").str.strip()


def _times(raw: pd.Series) -> pd.Series:
    """UTC timestamps from ISO strings (naive = UTC) or epoch seconds/milliseconds; NaT when unparseable."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        return pd.to_datetime(raw, utc=True)
    num = pd.to_numeric(raw, errors="coerce")
    is_num = num.notna()
    out = pd.to_datetime(raw.where(~is_num), utc=True, errors="coerce", format="ISO8601")
    seconds = num.where(num < 1e11, num / 1000.0)
    plausible = is_num & seconds.between(0, 4e9)  # 1970 to 2096; anything else is not an epoch time
    if plausible.any():
        out[plausible] = pd.to_datetime(seconds[plausible], unit="s", utc=True)
    return out.where(~is_num | plausible)


def _label(raw: str) -> bool | None:
    v = raw.lower()
    return True if v in TRUE_LABELS else False if v in FALSE_LABELS else None


def map_rows(
    frame: pd.DataFrame,
    cmap: ColumnMap,
    key: bytes,
    first_row: int,
    source: str,
    tokens: dict[str, str] | None = None,
) -> MappedChunk:
    """Turn one chunk of the file into swipes (plus label values) and bad rows with reasons.

    `tokens` caches card value -> token across chunks (a file repeats its cards).
    """
    n = len(frame)
    cols = cmap.columns()
    text = {k: _text(frame, c).tolist() for k, c in cols.items() if k not in ("amount", "time", "lat", "lon")}
    amounts = pd.to_numeric(frame[cmap.amount], errors="coerce").tolist()
    parsed = _times(frame[cmap.time]).dt.floor("us")  # Swipe times carry microseconds
    missing_time = parsed.isna().tolist()
    times = list(pd.DatetimeIndex(parsed).to_pydatetime())
    geo = {k: pd.to_numeric(frame[cols[k]], errors="coerce").tolist() for k in ("lat", "lon") if k in cols}
    raw_amount, raw_time = (frame[c].astype("string").fillna("").tolist() for c in (cmap.amount, cmap.time))
    out = MappedChunk()
    tokens = {} if tokens is None else tokens
    for i in range(n):
        row = first_row + i
        card = text["card"][i]
        amount, at = amounts[i], times[i]
        is_fraud = _label(text["label"][i]) if "label" in text else None
        if not card:
            out.bad.append(BadRow(row, "card", "card is empty"))
        elif amount != amount or amount is None:  # NaN
            out.bad.append(BadRow(row, "amount", _unparsed("amount", raw_amount[i], "a number")))
        elif missing_time[i]:
            out.bad.append(BadRow(row, "time", _unparsed("time", raw_time[i], "a date")))
        elif "label" in text and is_fraud is None:
            out.bad.append(
                BadRow(row, "label", f"label {text['label'][i]!r} is not one of 1/0, true/false, fraud/legit")
            )
        else:
            token = tokens.get(card) or tokens.setdefault(card, card_value_token(card, key))
            values = {k: text[k][i] if k in text and text[k][i] else DEFAULTS[k] for k in DEFAULTS}
            if values["mcc"].isdigit():
                values["mcc"] = values["mcc"].zfill(4)
            try:
                swipe = Swipe(
                    swipe_id=text["id"][i] if "id" in text and text["id"][i] else f"{source}-{row}",
                    card_token=token,
                    amount=round(float(amount), 2),
                    merchant_id=values["merchant"],
                    mcc=values["mcc"],
                    country=values["country"].upper(),
                    currency=values["currency"].upper(),
                    channel=values["channel"].lower(),  # type: ignore[arg-type]
                    lat=_number(geo["lat"][i]) if "lat" in geo else None,
                    lon=_number(geo["lon"][i]) if "lon" in geo else None,
                    event_time=at,
                )
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                out.bad.append(BadRow(row, where, f"{where} {first.get('input')!r}: {first['msg']}"))
                continue
            out.swipes.append(swipe)
            out.labels.append(is_fraud)
    return out


def _unparsed(key: str, raw: str, kind: str) -> str:
    return f"{key} {raw!r} is not {kind}" if raw else f"{key} is empty"


def _number(value: float) -> float | None:
    return None if value != value else float(value)  # NaN -> None


@dataclass
class ReplayReport:
    file: str
    rows: int = 0
    swipes: int = 0
    labels: int = 0
    frauds: int = 0
    bad_rows: int = 0
    bad_by_key: Counter[str] = field(default_factory=Counter)
    bad_examples: list[BadRow] = field(default_factory=list)  # the first MAX_EXAMPLES, in file order
    elapsed_s: float = 0.0
    delivery_errors: int = 0
    last_error: str | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.elapsed_s if self.elapsed_s > 0 else 0.0


MAX_EXAMPLES = 50


def read_chunks(path: Path, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The file's mapped columns in chunks; MappingError names a mapped column the file lacks."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        pf = pq.ParquetFile(path)
        _check_columns(path, columns, pf.schema_arrow.names)
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()
    elif suffix == ".csv":
        header = pd.read_csv(path, nrows=0).columns.tolist()
        _check_columns(path, columns, header)
        yield from pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False, chunksize=chunk_rows)
    else:
        raise MappingError(f"{path} is neither .csv nor .parquet; convert it or rename it")


def _check_columns(path: Path, wanted: list[str], present: list[str]) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise MappingError(f"{path.name} has no column(s) {missing}; its columns are: {', '.join(present)}")


def count_rows(path: Path) -> int | None:
    """Data rows in the file, for the progress bar (CSV: newlines, assuming no quoted line breaks)."""
    if path.suffix.lower() == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as f:
        lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
    return max(lines - 1, 0)


def replay_file(
    settings: StackSettings,
    path: Path,
    mapping: str | ColumnMap,
    *,
    chunk_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    swipe_publisher: SwipePublisher | None = None,
    label_publisher: LabelPublisher | None = None,
) -> ReplayReport:
    """Publish every good row of `path` as a swipe (and a label when mapped), as fast as Kafka takes them."""
    cmap = parse_mapping(mapping) if isinstance(mapping, str) else mapping
    key = settings.token_key.get_secret_value().encode()
    source = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)[:40]
    columns = list(dict.fromkeys(cmap.columns().values()))
    swipes = swipe_publisher or SwipePublisher(settings.bootstrap, settings.topic_swipes)
    labels = label_publisher or LabelPublisher(settings.bootstrap, settings.topic_labels)
    report = ReplayReport(file=str(path))
    tokens: dict[str, str] = {}
    t0 = clock()
    for chunk in read_chunks(path, columns, chunk_rows):
        mapped = map_rows(chunk, cmap, key, report.rows + 1, source, tokens)
        report.rows += len(chunk)
        for swipe, is_fraud in zip(mapped.swipes, mapped.labels, strict=True):
            swipes.publish(swipe)
            if is_fraud is not None:
                labels.publish(_label_of(swipe, is_fraud))
                report.labels += 1
                report.frauds += is_fraud
        report.swipes += len(mapped.swipes)
        report.bad_rows += len(mapped.bad)
        report.bad_by_key.update(b.key for b in mapped.bad)
        report.bad_examples.extend(mapped.bad[: MAX_EXAMPLES - len(report.bad_examples)])
        if progress is not None:
            progress(report.rows)
    swipes.flush()
    labels.flush()
    report.elapsed_s = clock() - t0
    report.delivery_errors = swipes.failed + labels.failed
    report.last_error = swipes.last_error or labels.last_error
    return report


def _label_of(swipe: Swipe, is_fraud: bool) -> Label:
    # The file does not say when the truth became known; the swipe's own time is the honest default.
    return Label.of(swipe, is_fraud=is_fraud, scenario=LABEL_SCENARIO, reported_at=swipe.event_time)


def run_replay(
    settings: StackSettings, path: Path, mapping: str, console: Console | None = None
) -> ReplayReport:
    """`fraudstream replay`: check the mapping and Kafka, publish with a progress bar, print the report."""
    console = console or Console()
    cmap = parse_mapping(mapping)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    check_reachable(settings.bootstrap)
    ensure_topics(
        settings.bootstrap,
        [settings.topic_swipes, settings.topic_labels],
        partitions=settings.topic_partitions,
    )
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"replaying {path.name}", total=count_rows(path))
        report = replay_file(settings, path, cmap, progress=lambda rows: bar.update(task, completed=rows))
    console.print(replay_table(report))
    return report


def replay_table(report: ReplayReport) -> Table:
    table = Table(
        title=f"{report.file}: {report.rows:,} rows in {report.elapsed_s:.1f} s ({report.rate:,.0f}/s)"
    )
    table.add_column("")
    table.add_column("count", justify="right")
    table.add_row("swipes published", f"{report.swipes:,}")
    table.add_row("labels published", f"{report.labels:,} ({report.frauds:,} fraud)")
    table.add_row("bad rows", f"{report.bad_rows:,}")
    for key, n in report.bad_by_key.most_common():
        table.add_row(f"  bad {key}", f"{n:,}")
    for bad in report.bad_examples[:10]:
        table.add_row(f"  row {bad.row}", bad.reason)
    table.add_row("delivery errors", f"{report.delivery_errors} {report.last_error or ''}".strip())
    return table
