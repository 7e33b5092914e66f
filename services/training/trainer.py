"""`fraudstream train`: the baseline model, trained on generated labeled history.

The history goes through `scoring.training.fit.labeled_rows`, which replays every swipe exactly as
the scorer would see it (features folded from the card's earlier swipes only), so training and
serving share one feature code path. Two kinds: `logistic` (a standardized regression, the cheapest
to serve) and `gbm` (boosted trees with an MCC fraud prior). By default (`auto`) both are fitted and
the one with the better average precision on the latest, out-of-time slice is kept
(`scoring.training.selection`). The merchant's known fraud rate and volume are inputs by default.

`train_on_delta` trains on what the feature job stored instead: the Delta `swipes` and `labels`
tables, with only the labels known at training time (`scoring.training.training_set`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from foundation.settings import derive
from scoring.serving.inputs import present_fields
from scoring.serving.merchant_inputs import merchant_inputs_by_swipe
from scoring.serving.model import ModelArtifact, publish_artifact
from scoring.training.fit import LabeledRow, labeled_rows
from scoring.training.selection import ModelKind, fit_and_select
from scoring.training.training_set import LabelCutoff, TrainingWindow, training_rows
from services.generator.history import labeled_history
from services.generator.population import PopulationConfig, build_population
from services.generator.scenarios import labels_for
from services.training.delta_history import read_history
from streaming.card_state import FeatureConfig
from streaming.merchant_state import DEFAULT_MERCHANT, MerchantConfig
from streaming.settings import StreamSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from scoring.serving.settings import ScorerSettings


@dataclass(frozen=True)
class TrainReport:
    path: Path
    artifact: ModelArtifact
    swipes: int
    fraud: int


def train_on_generated(
    models_dir: Path,
    token_key: bytes,
    config: FeatureConfig,
    *,
    seed: int = 1,
    cards: int = 2000,
    days: float = 10.0,
    per_scenario: int = 15,
    end: datetime | None = None,
    kind: ModelKind = "auto",
    merchant: MerchantConfig | None = DEFAULT_MERCHANT,
    publish: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainReport:
    """Generate `days` of labeled traffic ending at `end`, train, and publish the artifact (if `publish`).

    With `merchant`, the model also reads the merchant fraud inputs, from chargebacks that arrive
    with the generator's realistic label delay (`services.generator.scenarios.labels_for`).
    """
    # Midnight UTC today by default: the same seed gives the same model all day long.
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    rng = np.random.default_rng(seed)
    progress(f"building {cards} cards and {days:g} days of labeled traffic")
    pop = build_population(rng, token_key, PopulationConfig(cards=cards))
    history = labeled_history(pop, start, days, rng, per_scenario=per_scenario)
    progress(f"replaying {len(history)} swipes through the scorer's feature code")
    by_swipe = None
    if merchant is not None:
        # Its own generator: the chargeback delays do not shift the traffic of a given seed.
        labels = [label for label, _ in labels_for(history, np.random.default_rng(seed + 1))]
        by_swipe = merchant_inputs_by_swipe((ls.swipe for ls in history), labels, merchant)
    rows = list(labeled_rows(((ls.swipe, ls.is_fraud) for ls in history), config, by_swipe))
    artifact = fit_and_select(
        rows,
        kind,
        lambda k: f"{k}-{end:%Y%m%dT%H%M%S}-s{seed}",
        config=config,
        merchant=merchant,
        fields=present_fields(ls.swipe for ls in history),
        seed=seed,
        training_window=(start, end),
        progress=progress,
    ).chosen
    path = publish_artifact(artifact, models_dir) if publish else models_dir / f"{artifact.version}.json"
    return TrainReport(path, artifact, len(history), sum(ls.is_fraud for ls in history))


@dataclass(frozen=True)
class DeltaExamples:
    """A Delta window's training examples, point in time, and the optional fields its swipes carry."""

    rows: list[LabeledRow]
    fields: tuple[str, ...]  # inputs follow the data: what it lacks is no input


def delta_examples(
    spark: SparkSession,
    stream: StreamSettings,
    config: FeatureConfig,
    window: TrainingWindow,
    cutoff: LabelCutoff,
    merchant: MerchantConfig | None,
    progress: Callable[[str], None] = lambda _: None,
) -> DeltaExamples:
    """The examples of `window` with only the labels known at `cutoff`, from the Delta tables.

    The swipes of the longest horizon before the window are read too, so the first examples'
    features see the card's recent past as the scorer did.
    """
    warm_up = timedelta(seconds=config.retention_s)
    progress(f"reading Delta swipes and labels from {stream.delta_path}")
    # Labels reported after --to but by --as-of were known when training ran: read them too.
    history = read_history(spark, stream, window.start - warm_up, window.end, labels_until=cutoff.as_of)
    progress(f"replaying {len(history.swipes):,} swipes through the scorer's feature code")
    rows = training_rows(history.swipes, history.labels, window, cutoff, config, merchant)
    return DeltaExamples(rows, present_fields(history.swipes))


def fit_on_delta(
    rows: Sequence[LabeledRow],
    fields: tuple[str, ...],
    window: tuple[datetime, datetime],
    cutoff: LabelCutoff,
    config: FeatureConfig,
    *,
    kind: ModelKind,
    merchant: MerchantConfig | None,
    seed: int,
    progress: Callable[[str], None] = lambda _: None,
) -> ModelArtifact:
    """`fit_and_select` on the Delta examples `rows` of `window`, the model named after its end."""
    return fit_and_select(
        rows,
        kind,
        lambda k: f"{k}-delta-{window[1]:%Y%m%dT%H%M%S}-s{seed}",
        config=config,
        merchant=merchant,
        fields=fields,
        seed=seed,
        label_delay=cutoff.label_delay,  # fit rows settle before the validation slice starts
        training_window=window,
        progress=progress,
    ).chosen


def train_on_delta(
    spark: SparkSession,
    stream: StreamSettings,
    models_dir: Path,
    config: FeatureConfig,
    window: TrainingWindow,
    cutoff: LabelCutoff,
    *,
    kind: ModelKind = "auto",
    merchant: MerchantConfig | None = DEFAULT_MERCHANT,
    seed: int = 1,
    publish: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainReport:
    """Train on the Delta history of `window`, with only the labels known at `cutoff`, and publish."""
    examples = delta_examples(spark, stream, config, window, cutoff, merchant, progress)
    rows, trained = examples.rows, (window.start, window.usable_end(cutoff))
    artifact = fit_on_delta(
        rows,
        examples.fields,
        trained,
        cutoff,
        config,
        kind=kind,
        merchant=merchant,
        seed=seed,
        progress=progress,
    )
    path = publish_artifact(artifact, models_dir) if publish else models_dir / f"{artifact.version}.json"
    return TrainReport(path, artifact, len(rows), sum(r.is_fraud for r in rows))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `12h`, `7d` (or plain seconds) as a timedelta."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 15m, 12h or 7d") from None
    if seconds < 0:
        raise ValueError(f"{text!r} is negative; a duration is 0 or more, like 7d")
    return timedelta(seconds=seconds)


def parse_utc(text: str) -> datetime:
    """An ISO date or date-time; a naive one is read as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO date or date-time, e.g. 2026-11-01 or 2026-11-01T09:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def delta_window(
    to: str | None, days: float, as_of: str | None, label_delay: str, now: datetime | None = None
) -> tuple[TrainingWindow, LabelCutoff]:
    """The CLI's --to/--days/--as-of/--label-delay as a training window and a label cutoff."""
    end = parse_utc(to) if to else (now or datetime.now(UTC))
    window = TrainingWindow(end - timedelta(days=days), end)
    return window, LabelCutoff(parse_utc(as_of) if as_of else end, parse_duration(label_delay))


def train_from_delta_settings(
    settings: ScorerSettings,
    window: TrainingWindow,
    cutoff: LabelCutoff,
    *,
    kind: ModelKind,
    seed: int,
    merchant_features: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> TrainReport:
    """`train_on_delta` with a batch Spark session, on the tables of the scorer's settings' stack."""
    from streaming.spark import build_session

    stream = derive(StreamSettings, settings)
    progress(f"starting Spark ({stream.spark_master})")
    spark = build_session("fraudstream-train", stream.jars_dir, master=stream.spark_master)
    try:
        return train_on_delta(
            spark,
            stream,
            settings.resolved_model_path.parent,
            settings.feature_config,
            window,
            cutoff,
            kind=kind,
            merchant=settings.merchant_config if merchant_features else None,
            seed=seed,
            progress=progress,
        )
    finally:
        spark.stop()
