"""`fraudstream train --promote-if-better`: train on Delta, backtest against the serving model, gate.

    Delta swipes + labels, point in time (scoring.training.training_set)
    [window.start ........................ backtest start ......... usable end)
     candidate fits here                   both models scored here (the latest labeled window)

The candidate never sees the backtest window; the serving model (`models/current.json`) may have,
if it was trained later than the window's start, which only makes it harder to beat. Either way
the candidate is written as `<version>.json` (so it can run as FRAUDSTREAM_SHADOW_MODEL) and the
comparison as `comparisons/<candidate version>.json`; only a promotion rewrites `current.json`,
which a running scorer then swaps in. The rule is `scoring.training.promotion.verdict`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoring.serving.model import ModelArtifact, publish_artifact
from scoring.training.promotion import Gate, ModelFigures, Verdict, figures, verdict
from scoring.training.selection import ModelKind
from scoring.training.training_set import LabelCutoff, TrainingWindow
from services.training.trainer import delta_examples, fit_on_delta
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig
from streaming.settings import StreamSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

COMPARISONS = "comparisons"


@dataclass(frozen=True)
class PromotionReport:
    candidate: ModelArtifact
    candidate_figures: ModelFigures
    champion_figures: ModelFigures | None
    verdict: Verdict
    backtest: tuple[datetime, datetime]
    backtest_swipes: int
    backtest_frauds: int
    comparison_path: Path


def promote_if_better(
    spark: SparkSession,
    stream: StreamSettings,
    models_dir: Path,
    config: FeatureConfig,
    window: TrainingWindow,
    cutoff: LabelCutoff,
    *,
    gate: Gate,
    backtest: timedelta,
    merchant: MerchantConfig,
    merchant_features: bool = True,
    kind: ModelKind = "auto",
    seed: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> PromotionReport:
    """Train a candidate before the latest `backtest` of the settled window, compare, maybe promote.

    The rows carry the merchant inputs (`merchant`) whatever the candidate reads, so a serving
    model that reads them is scored as it serves.
    """
    usable_end = window.usable_end(cutoff)
    test_start = usable_end - backtest
    if test_start <= window.start:
        raise ValueError(
            f"the backtest window ({backtest}) takes the whole settled training window "
            f"{window.start:%Y-%m-%d %H:%M} to {usable_end:%Y-%m-%d %H:%M}: train on more days or "
            "shorten --backtest-days"
        )
    examples = delta_examples(spark, stream, config, window, cutoff, merchant, progress)
    rows = examples.rows
    fit_rows = [r for r in rows if r.t < test_start]
    test_rows = [r for r in rows if r.t >= test_start]
    candidate = fit_on_delta(
        fit_rows,
        examples.fields,
        (window.start, test_start),
        cutoff,
        config,
        kind=kind,
        merchant=merchant if merchant_features else None,
        seed=seed,
        progress=progress,
    )
    champion = _serving(models_dir / "current.json", set(rows[0].inputs) if rows else set())
    progress(f"scoring {len(test_rows):,} swipes of the backtest window with both models")
    mine = figures(candidate, test_rows)
    theirs = figures(champion, test_rows) if champion is not None else None
    decided = verdict(mine, theirs, gate)
    models_dir.mkdir(parents=True, exist_ok=True)
    (models_dir / f"{candidate.version}.json").write_text(candidate.to_json())
    if decided.promote:
        publish_artifact(candidate, models_dir)
    report = PromotionReport(
        candidate,
        mine,
        theirs,
        decided,
        (test_start, usable_end),
        len(test_rows),
        sum(r.is_fraud for r in test_rows),
        models_dir / COMPARISONS / f"{candidate.version}.json",
    )
    _write_comparison(report, gate)
    return report


def _serving(path: Path, inputs: set[str]) -> ModelArtifact | None:
    """The serving model, or None when there is none yet; ValueError when it cannot be scored here."""
    if not path.exists():
        return None
    champion = ModelArtifact.load(path)
    missing = champion.missing_inputs(inputs)
    if inputs and missing:
        raise ValueError(
            f"the serving model {champion.version} reads inputs {missing} that these settings do not "
            "produce (horizons or merchant windows differ): set FRAUDSTREAM_HORIZONS_S / "
            "FRAUDSTREAM_MERCHANT_* to the ones it was trained with"
        )
    return champion


def _write_comparison(report: PromotionReport, gate: Gate) -> None:
    body: dict[str, Any] = {
        "decided_at": datetime.now(UTC).isoformat(),
        "promoted": report.verdict.promote,
        "reason": report.verdict.reason,
        "gate": asdict(gate),
        "backtest": {
            "start": report.backtest[0].isoformat(),
            "end": report.backtest[1].isoformat(),
            "swipes": report.backtest_swipes,
            "frauds": report.backtest_frauds,
        },
        "candidate": asdict(report.candidate_figures),
        "champion": asdict(report.champion_figures) if report.champion_figures else None,
    }
    report.comparison_path.parent.mkdir(parents=True, exist_ok=True)
    report.comparison_path.write_text(json.dumps(body, indent=2))
