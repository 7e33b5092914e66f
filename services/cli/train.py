"""`fraudstream train`: a model from generated or Delta history, published where the scorer reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from services.cli.context import CommandSettings, console, settings_of

if TYPE_CHECKING:
    from scoring.training.selection import ModelKind

# The options, one alias each, so the command's signature reads as a list.
SourceOption = Annotated[
    str,
    typer.Option(help="generated: fresh labeled traffic; delta: the feature job's Delta swipes + labels."),
]
SeedOption = Annotated[int, typer.Option(help="Seed of the generated history (and of the model).")]
CardsOption = Annotated[int, typer.Option(help="Cards in the generated history.")]
DaysOption = Annotated[float, typer.Option(help="Days of generated history; for delta, days before --to.")]
KindOption = Annotated[
    str,
    typer.Option(
        help="Model kind: auto (fit both, keep the better average precision on the latest slice), "
        "logistic (regression) or gbm (boosted trees, MCC prior)."
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option("--to", help="delta: end of the training window (UTC ISO date/time); default now."),
]
AsOfOption = Annotated[
    str | None, typer.Option(help="delta: only labels reported by then count (UTC ISO); default --to.")
]
LabelDelayOption = Annotated[
    str,
    typer.Option(help="delta: how long a chargeback can take (90s, 12h, 7d); younger swipes are skipped."),
]
MerchantFeaturesOption = Annotated[
    bool,
    typer.Option(
        help="Learn from the merchant's volume and known fraud rate (the scorer then reads "
        "merchant-features)."
    ),
]
PromoteOption = Annotated[
    bool,
    typer.Option(
        help="Train from Delta, backtest against the serving model on the latest labeled window, "
        "publish only if the gate passes; the comparison goes to models/comparisons/.",
    ),
]
ApMarginOption = Annotated[
    float,
    typer.Option(
        help="--promote-if-better: how much lower the candidate's average precision may be.",
        envvar="FRAUDSTREAM_PROMOTE_AP_MARGIN",
    ),
]
DenyRateBoundOption = Annotated[
    float,
    typer.Option(
        help="--promote-if-better: how far (a fraction of swipes) its deny rate may move.",
        envvar="FRAUDSTREAM_PROMOTE_DENY_RATE_BOUND",
    ),
]
BacktestDaysOption = Annotated[
    float,
    typer.Option(
        help="--promote-if-better: the latest settled days the two models are compared on.",
        envvar="FRAUDSTREAM_PROMOTE_BACKTEST_DAYS",
    ),
]


def train(
    ctx: typer.Context,
    source: SourceOption = "generated",
    seed: SeedOption = 1,
    cards: CardsOption = 2000,
    days: DaysOption = 10.0,
    kind: KindOption = "auto",
    train_to: ToOption = None,
    as_of: AsOfOption = None,
    label_delay: LabelDelayOption = "7d",
    merchant_features: MerchantFeaturesOption = True,
    promote_if_better: PromoteOption = False,
    ap_margin: ApMarginOption = 0.01,
    deny_rate_bound: DenyRateBoundOption = 0.02,
    backtest_days: BacktestDaysOption = 2.0,
) -> None:
    """Train a model and publish it where the scorer reads it; a running scorer swaps it in, no restart."""
    from scoring.training.selection import parse_kind

    try:
        model_kind = parse_kind(kind)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if promote_if_better:  # always from Delta, point in time (services/training/promotion.py)
        from services.cli.promotion import train_and_gate

        window_options = (train_to, days, as_of, label_delay, backtest_days)
        train_and_gate(
            settings_of(ctx),
            console,
            model_kind,
            window_options,
            (ap_margin, deny_rate_bound),
            merchant_features,
            seed,
        )
        return
    if source not in ("generated", "delta"):
        raise typer.BadParameter(f"--source must be generated or delta, not {source!r}")
    window = (train_to, days, as_of, label_delay)
    train_and_publish(settings_of(ctx), source, window, model_kind, seed, cards, merchant_features)


def train_and_publish(
    command: CommandSettings,
    source: str,
    window_options: tuple[str | None, float, str | None, str],
    kind: ModelKind,
    seed: int,
    cards: int,
    merchant_features: bool,
) -> None:
    """Train on `source` (generated or delta), publish the model, print its figures."""
    from scoring.serving.settings import ScorerSettings
    from services.training import trainer

    train_to, days, as_of, label_delay = window_options
    settings = command.get(ScorerSettings)
    with console.status("training") as spinner:
        if source == "delta":
            try:
                window, cutoff = trainer.delta_window(train_to, days, as_of, label_delay)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from exc
            report = trainer.train_from_delta_settings(
                settings,
                window,
                cutoff,
                kind=kind,
                seed=seed,
                merchant_features=merchant_features,
                progress=lambda m: spinner.update(m),
            )
        else:
            report = trainer.train_on_generated(
                settings.resolved_model_path.parent,
                settings.token_key.get_secret_value().encode(),
                settings.feature_config,
                seed=seed,
                cards=cards,
                days=days,
                kind=kind,
                merchant=settings.merchant_config if merchant_features else None,
                progress=lambda m: spinner.update(m),
            )
    m = report.artifact.metrics
    console.print(
        f"model [bold]{report.artifact.version}[/] from {report.swipes:,} swipes ({report.fraud} fraud): "
        f"validation AUC {m.roc_auc or 0:.3f}, average precision {m.average_precision or 0:.3f}, "
        f"precision {m.precision:.2f}, recall {m.recall:.2f} at threshold {report.artifact.threshold:.3f}"
    )
    if report.artifact.selection is not None:
        console.print(f"model selection: {report.artifact.selection.summary()}")
    console.print(f"published to {report.path}; a running scorer picks it up without a restart")
