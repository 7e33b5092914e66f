"""Model benchmark: train each model kind on the same generated history, then score the stolen-card story.

    .venv/bin/python bench/model_story.py --seeds 20

Per kind: validation metrics (out of time), training time, single-row predict latency, and over
`--seeds` seeds of the story: how often the first fraudulent swipe is denied, fraudulent swipes
approved, other cards' legitimate swipes denied (the half hour, and the day before), and what a
30-minute batch job would have let through. The logistic regression is the baseline of the run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from scoring.serving.model import ModelArtifact
from scoring.serving.rules import context_names, load_rules
from scoring.serving.settings import ScorerSettings
from scoring.training.fit import LabeledRow, labeled_rows, train_logistic
from scoring.training.gbm import train_gbm
from services.generator.history import labeled_history
from services.generator.population import PopulationConfig, build_population
from services.replay.story_eval import StorySummary, run_stories
from streaming.card_state import FeatureConfig

TRAIN_END = datetime(2026, 11, 20, tzinfo=UTC)


def predict_latency_us(
    model: ModelArtifact, rows: list[LabeledRow], repeat: int = 2000
) -> tuple[float, float]:
    """Median and p99 of one `predict` call, over real validation rows."""
    sample = rows[-repeat:]
    times = []
    for r in sample:
        started = time.perf_counter()
        model.predict(r.inputs, r.categories)
        times.append((time.perf_counter() - started) * 1e6)
    return statistics.median(times), float(np.percentile(times, 99))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20, help="story seeds 0..N-1")
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--train-cards", type=int, default=2000)
    parser.add_argument("--train-days", type=float, default=10.0)
    parser.add_argument("--kinds", default="logistic,gbm")
    args = parser.parse_args()

    settings = ScorerSettings()
    key = settings.token_key.get_secret_value().encode()
    config = FeatureConfig()
    rules = load_rules(settings.rules_path, context_names(config))

    started = time.perf_counter()
    rng = np.random.default_rng(args.train_seed)
    pop = build_population(rng, key, PopulationConfig(cards=args.train_cards))
    start = TRAIN_END - timedelta(days=args.train_days)
    history = labeled_history(pop, start, args.train_days, rng, per_scenario=15)
    rows = list(labeled_rows(((ls.swipe, ls.is_fraud) for ls in history), config))
    print(f"history: {len(rows):,} swipes, {sum(r.is_fraud for r in rows):,} fraud, replayed in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip

    results: list[tuple[str, ModelArtifact, float, StorySummary, tuple[float, float]]] = []
    for kind in args.kinds.split(","):
        started = time.perf_counter()
        window = (start, TRAIN_END)
        if kind == "gbm":
            model = train_gbm(rows, "bench-gbm", config=config, seed=args.train_seed, training_window=window)
        else:
            examples = [(r.inputs, r.is_fraud) for r in rows]
            model = train_logistic(
                examples, "bench-logistic", config=config, seed=args.train_seed, training_window=window
            )
        fit_s = time.perf_counter() - started
        latency = predict_latency_us(model, rows)
        started = time.perf_counter()
        summary = run_stories(range(args.seeds), model, rules, config, key)
        print(f"{kind}: fitted in {fit_s:.1f} s, story over {args.seeds} seeds in "
              f"{time.perf_counter() - started:.1f} s; first denied at "
              f"{[o.first_denied_index for o in summary.outcomes]}")  # fmt: skip
        results.append((kind, model, fit_s, summary, latency))

    header = (
        f"{'kind':<9} {'AUC':>6} {'AP':>6} {'P@thr':>6} {'R@thr':>6} {'fit s':>6} "
        f"{'p50 us':>7} {'p99 us':>7} "
        f"{'1st caught':>10} {'fraud ok':>8} {'legit denied':>12} {'day FPR':>8} {'batch ok':>12}"
    )
    print(header)
    for kind, model, fit_s, s, (p50, p99) in results:
        m = model.metrics
        print(
            f"{kind:<9} {m.roc_auc or 0:>6.4f} {m.average_precision or 0:>6.4f} {m.precision:>6.3f} "
            f"{m.recall:>6.3f} {fit_s:>6.1f} {p50:>7.1f} {p99:>7.1f} "
            f"{f'{s.first_caught}/{s.seeds}':>10} {s.mean_fraud_approved:>8.2f} "
            f"{f'{s.legit_denied}/{s.legit_swipes}':>12} {s.day_false_positive_rate:>8.5f} "
            f"{f'{s.mean_batch_approved:.1f} (min {s.min_batch_approved})':>12}"
        )


if __name__ == "__main__":
    main()
