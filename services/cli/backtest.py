"""`fraudstream backtest` and `generate-file`: a labeled file scored period by period as the scorer would."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from foundation.settings import StackSettings
from services.cli.context import CommandSettings, console, err, parse_day, settings_of

if TYPE_CHECKING:
    from services.backtest.run import BacktestSpec, Period

# The options, one alias each, so the command's signature reads as a list.
FileOption = Annotated[Path, typer.Option("--file", help="Labeled CSV or Parquet file of transactions.")]
MapOption = Annotated[
    str,
    typer.Option(
        "--map",
        help="As `replay --file` (card=COL,amount=COL,time=COL,label=COL,id=COL,...), plus the "
        "optional reported=COL: when each fraud label became known (default: the swipe's time), "
        "and scenario=COL: each fraud's family or kind, for a breakdown.",
    ),
]
TrainFromOption = Annotated[str, typer.Option(help="First day of the train period, YYYY-MM-DD (UTC).")]
TrainToOption = Annotated[str, typer.Option(help="Last day of the train period (inclusive).")]
ScoresOption = Annotated[
    Path, typer.Option("--scores", help="Write id, score, decision per test row here (.csv/.parquet).")
]
TestFromOption = Annotated[
    str | None,
    typer.Option(help="First day of the test period; default: the first day --delay after --train-to."),
]
TestToOption = Annotated[
    str | None,
    typer.Option(help="Last day of the test period (inclusive); default: as long as the train period."),
]
DelayOption = Annotated[
    str | None,
    typer.Option(
        help="The gap between train and test (7d, 12h, 3600 or 3600s): the model is trained as of the "
        "test's start, so the train period's chargebacks have had the gap to arrive; the gap's swipes "
        "are neither examples nor scored. Default 0 (or what --test-from leaves)."
    ),
]
ReportOption = Annotated[
    Path | None, typer.Option(help="The HTML report; default: the scores path with .html.")
]
KindOption = Annotated[
    str,
    typer.Option(
        help="Model kind, as `fraudstream train`: auto (fit both, keep the better), logistic or gbm."
    ),
]
MerchantFeaturesOption = Annotated[
    bool,
    typer.Option(
        help="Learn from the merchant's volume and fraud share (labels count once reported, windows end "
        "FRAUDSTREAM_LABEL_DELAY_S, default 7 d, before the swipe); needs merchant=COL."
    ),
]
RulesOption = Annotated[
    Path | None, typer.Option(help="Rules the decisions apply first; default: the scorer's rules file.")
]
NoRulesOption = Annotated[bool, typer.Option("--no-rules", help="Decide by the model's threshold alone.")]
WorkersOption = Annotated[
    int,
    typer.Option(
        help="Processes folding features (cards are split among them).",
        min=1,
        envvar="FRAUDSTREAM_BACKTEST_WORKERS",
    ),
]
KOption = Annotated[int, typer.Option("--k", help="Cards per day for card precision@k.", min=1)]
SeedOption = Annotated[int, typer.Option(help="Seed of the model fit.")]
LabelDelayOption = Annotated[
    str,
    typer.Option(
        help="Train only on swipes older than this at the train period's end (90s, 12h, 7d): "
        "younger ones may still get a chargeback. Frauds reported later train as legitimate."
    ),
]
BootstrapOption = Annotated[
    int,
    typer.Option(
        help="Resamples for the confidence intervals of AUC, AP and card precision; 0: none.", min=0
    ),
]
BootstrapByOption = Annotated[
    str,
    typer.Option(
        help="What the bootstrap resamples: card (default: fraud clusters by card) or day (long test "
        "periods: keeps each day whole)."
    ),
]
ConfidenceOption = Annotated[float, typer.Option(help="Level of the intervals.", min=0.5, max=0.999)]
KnownCardsOption = Annotated[
    str,
    typer.Option(
        help="Which cards card precision leaves out of a day: reported (a fraud label reported before "
        "the day) or found (a hit in an earlier test day's top k, or reported before the test)."
    ),
]


def backtest(
    ctx: typer.Context,
    file: FileOption,
    mapping: MapOption,
    train_from: TrainFromOption,
    train_to: TrainToOption,
    scores: ScoresOption,
    test_from: TestFromOption = None,
    test_to: TestToOption = None,
    delay: DelayOption = None,
    report: ReportOption = None,
    kind: KindOption = "auto",
    merchant_features: MerchantFeaturesOption = True,
    rules: RulesOption = None,
    no_rules: NoRulesOption = False,
    workers: WorkersOption = 2,
    k: KOption = 100,
    seed: SeedOption = 0,
    label_delay: LabelDelayOption = "0s",
    bootstrap: BootstrapOption = 200,
    bootstrap_by: BootstrapByOption = "card",
    confidence: ConfidenceOption = 0.95,
    known_cards: KnownCardsOption = "reported",
) -> None:
    """Train on one period of a labeled file and score every swipe of the next exactly as the scorer would.

    The field's protocol: --train-from D --train-to D --delay 7d tests on a period as long as training's.

    Card precision@k is per test day, with the cards whose fraud was reported before that day left out.

    AUC, AP and card precision@k come with bootstrap intervals; with scenario=COL in --map, per scenario.
    """
    if bootstrap_by not in ("card", "day"):
        raise typer.BadParameter(f"--bootstrap-by must be card or day, not {bootstrap_by!r}")
    if known_cards not in ("reported", "found"):
        raise typer.BadParameter(f"--known-cards must be reported or found, not {known_cards!r}")
    from scoring.serving.settings import ScorerSettings
    from scoring.training.selection import parse_kind
    from services.backtest.run import BacktestSpec, Period
    from services.replay.file import MappingError
    from services.training.trainer import parse_duration

    scorer_settings = settings_of(ctx).get(ScorerSettings, warn_dev_key=True)
    try:
        train_period = Period(parse_day(train_from, "--train-from"), parse_day(train_to, "--train-to"))
        test_period = _test_period(train_period, test_from, test_to, parse_duration(delay or "0s"), delay)
        spec = BacktestSpec(
            train=train_period,
            test=test_period,
            kind=parse_kind(kind),
            merchant=scorer_settings.merchant_config if merchant_features else None,
            rules_path=None if no_rules else (rules or scorer_settings.rules_path),
            workers=workers,
            k=k,
            seed=seed,
            label_delay=parse_duration(label_delay),
            bootstrap=bootstrap,
            bootstrap_unit="day" if bootstrap_by == "day" else "card",
            confidence=confidence,
            known_cards="found" if known_cards == "found" else "reported",
        )
        _run_and_report(settings_of(ctx), file, mapping, spec, scores, report or scores.with_suffix(".html"))
    except (MappingError, ValueError, FileNotFoundError) as exc:
        err.print(f"[red]backtest failed:[/] {exc}")
        raise typer.Exit(2) from None


def _run_and_report(
    command: CommandSettings, file: Path, mapping: str, spec: BacktestSpec, scores: Path, report: Path
) -> None:
    """Run the backtest the spec describes on `file` with the scorer's token key and feature windows."""
    from scoring.serving.settings import ScorerSettings
    from services.backtest.report import run_and_report

    scorer_settings = command.get(ScorerSettings)
    token_key = scorer_settings.token_key.get_secret_value().encode()
    run_and_report(file, mapping, spec, token_key, scorer_settings.feature_config, scores, report, console)


def _test_period(
    train: Period, test_from: str | None, test_to: str | None, delay: timedelta, delay_text: str | None
) -> Period:
    """The test period the options give: --test-from/--test-to, else from --delay (see the help)."""
    from services.backtest.run import Period, period_after_delay

    after = period_after_delay(train, delay)
    first = after.first if test_from is None else parse_day(test_from, "--test-from")
    if delay_text is not None and first < after.first:
        raise ValueError(
            f"--test-from {first} starts before the --delay {delay_text} after --train-to {train.last} is "
            f"over ({after.first}); start the test later or shorten the delay"
        )
    last = first + timedelta(days=train.days - 1) if test_to is None else parse_day(test_to, "--test-to")
    return Period(first, last)


def generate_file(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The Parquet file to write.")],
    days: Annotated[float, typer.Option(help="Days of traffic.")] = 182.0,
    cards: Annotated[int, typer.Option(help="Cards in the population (~2.5 swipes a day each).")] = 4400,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD (UTC).")] = "2026-05-01",
    per_scenario: Annotated[
        int, typer.Option(help="Instances of each fraud family (at weight 1) per (up to) 30 days.")
    ] = 10,
    seed: Annotated[int, typer.Option(help="Same seed, same file.")] = 1,
    profile: Annotated[
        str,
        typer.Option(
            help="full: every column a bank export has (ids, MCC, country, channel, position, report "
            "time, scenario); minimal: only card, merchant, amount, time and label."
        ),
    ] = "full",
    scenario_mix: Annotated[
        str | None,
        typer.Option(
            help="NAME=WEIGHT,...: each listed family gets WEIGHT x --per-scenario instances, unlisted "
            "ones none (e.g. stolen_card=1,terminal_compromise=3). Default: every family at 1. Families: "
            "stolen_card, card_testing, compromised_merchant, account_takeover, terminal_compromise, "
            "escalating_card, low_and_slow.",
            envvar="FRAUDSTREAM_SCENARIO_MIX",
        ),
    ] = None,
) -> None:
    """Write the generator's labeled traffic (a mix of fraud families) as a file `backtest` reads."""
    from datetime import UTC, datetime

    from services.backtest.data import PROFILES, mapping_for, write_generated_history
    from services.generator.scenario_mix import DEFAULT_MIX, format_mix, parse_mix

    if profile not in PROFILES:
        raise typer.BadParameter(f"--profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    try:
        mix = DEFAULT_MIX if scenario_mix is None else parse_mix(scenario_mix)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scenario-mix") from None
    first = datetime.combine(parse_day(start, "--start"), datetime.min.time(), tzinfo=UTC)
    with console.status(f"generating {days:g} days of {cards:,} cards ({profile})") as spinner:
        written = write_generated_history(
            path,
            settings_of(ctx).get(StackSettings, warn_dev_key=True).token_key.get_secret_value().encode(),
            first,
            days=days,
            cards=cards,
            per_scenario_per_chunk=per_scenario,
            seed=seed,
            mix=mix,
            profile=profile,
            progress=lambda rows: spinner.update(f"generating: {rows:,} rows written"),
        )
    console.print(
        f"wrote {written.rows:,} rows ({written.fraud:,} fraud) from {written.start:%Y-%m-%d} to "
        f"{written.end:%Y-%m-%d} to {path}, scenario mix {format_mix(mix)}; backtest it with "
        f"--map {mapping_for(profile)}"
    )
