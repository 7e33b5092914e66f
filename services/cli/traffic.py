"""`fraudstream generate / replay / demo`: traffic onto the stack, and the stolen-card story through it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from foundation.settings import StackSettings, derive
from services.cli.context import console, settings_of
from services.cli.stack import print_status, train_baseline
from services.stack import control as stack

if TYPE_CHECKING:
    from services.replay.stolen_card import ReplayReport


def generate(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(help="Swipes per second; 0 = as fast as possible.")] = 0.0,
    count: Annotated[int | None, typer.Option(help="Stop after this many swipes.")] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds of wall-clock run time.")
    ] = None,
    cards: Annotated[int, typer.Option(help="Size of the card population.")] = 10_000,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            help="Fraud scenario to mix in (repeatable): stolen_card, card_testing, "
            "compromised_merchant, account_takeover, terminal_compromise, escalating_card, low_and_slow."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Same seed, same traffic; unset: a new seed each run (printed), so new swipe ids."),
    ] = None,
    wallclock: Annotated[bool, typer.Option(help="Event times follow the wall clock.")] = False,
) -> None:
    """Publish a realistic card population's swipes (and late labels) to Kafka."""
    from services.generator.publish import run_generate

    if count is None and duration is None:
        raise typer.BadParameter("give --count or --duration")
    run_generate(
        settings_of(ctx).get(StackSettings, warn_dev_key=True),
        rate,
        count,
        duration,
        cards,
        scenario or (),
        seed,
        wallclock=wallclock,
        console=console,
    )


def _print_replay(report: ReplayReport) -> None:
    table = Table(title="stolen card: every swipe from the theft on")
    for col in (
        "#",
        "time (UTC)",
        "merchant",
        "country",
        "amount",
        "decision",
        "score",
        "top reasons",
        "feat. age",
    ):
        table.add_column(col, justify="right" if col in ("#", "amount", "score", "feat. age") else "left")
    for r in report.rows:
        if not r.is_fraud:
            continue
        colour = "green" if r.decision == "deny" else "red"
        table.add_row(
            str(r.index),
            f"{r.event_time:%H:%M:%S}",
            r.merchant_id,
            r.country,
            f"{r.amount:,.2f}",
            f"[{colour}]{r.decision}[/]",
            "-" if r.score is None else f"{r.score:.3f}",
            ", ".join(c for c in r.reasons if c.startswith(("rule:", "feature:")))[:60] or "-",
            "-" if r.feature_age_ms is None else f"{r.feature_age_ms / 1000:.1f}s",
        )
    console.print(table)
    first = "never" if report.first_denied_index is None else f"#{report.first_denied_index}"
    console.print(
        f"[bold]{report.fraud_approved} of {report.fraud_swipes} fraudulent swipes approved; "
        f"first denied at {first}.[/]"
    )
    console.print(
        f"Other cards' legitimate swipes in the same half hour: {report.legit_swipes}, "
        f"denied: {report.legit_denied}."
    )
    console.print(
        f"A batch job every 30 minutes would have approved [bold]{report.batch_baseline_approved}[/] "
        f"of the {report.fraud_swipes}."
    )
    console.print(
        f"Scorer latency seen by the card network: p50 {report.p50_ms:.1f} ms, p99 {report.p99_ms:.1f} ms."
    )


def replay(
    ctx: typer.Context,
    story: Annotated[str | None, typer.Argument(help="The story to replay: stolen-card.")] = None,
    file: Annotated[
        str | None, typer.Option("--file", help="Replay a labeled CSV or Parquet history instead.")
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--map", help="card=COL,amount=COL,time=COL[,merchant=,label=,id=,country=,mcc=]"),
    ] = None,
    json_path: Annotated[str | None, typer.Option("--json", help="Write the outcome as JSON here.")] = None,
    speed: Annotated[float, typer.Option(help="Event-time compression of the theft; 0 = no pauses.")] = 60.0,
    seed: Annotated[int | None, typer.Option(help="Seed of the story; default: new each run.")] = None,
    scorer_url: Annotated[
        str | None, typer.Option(help="Scorer URL; default: from `fraudstream status`.")
    ] = None,
) -> None:
    """Replay the stolen-card story through the running stack, or a labeled file into Kafka."""
    settings = settings_of(ctx).get(StackSettings, warn_dev_key=True)
    if file is not None:
        from pathlib import Path

        from services.replay.file import MappingError
        from services.replay.file import run_replay as run_file_replay

        if mapping is None:
            raise typer.BadParameter("--file needs --map card=COL,amount=COL,time=COL[,...]")
        if not Path(file).is_file():
            raise typer.BadParameter(f"{file} does not exist", param_hint="--file")
        try:
            run_file_replay(settings, Path(file), mapping, console=console)
        except MappingError as exc:
            raise typer.BadParameter(str(exc), param_hint="--map") from exc
        return
    if story != "stolen-card":
        raise typer.BadParameter("replay `stolen-card`, or give --file F --map ...")
    report = _replay_stolen_card(settings, speed, seed, scorer_url)
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(report.summary(), fh, indent=2, default=str)
        console.print(f"wrote {json_path}")


def _replay_stolen_card(
    settings: StackSettings, speed: float, seed: int | None, scorer_url: str | None
) -> ReplayReport:
    from scoring.serving.settings import ScorerSettings
    from services.generator.publish import check_reachable
    from services.replay.stolen_card import run_stolen_card

    st = stack.status(settings)
    scorer = st.get("scorer")
    url = scorer_url or (scorer.get("url") if isinstance(scorer, dict) else None) or "http://127.0.0.1:8000"
    kafka = st.get("kafka")
    bootstrap = (
        kafka.get("bootstrap") if isinstance(kafka, dict) and st.get("running") else settings.bootstrap
    )
    scorer_settings = derive(ScorerSettings, settings)
    token = scorer_settings.api_token.get_secret_value() if scorer_settings.api_token else None
    check_reachable(str(bootstrap))
    stack.wait_http(
        f"{url}/readyz",
        5,
        what=f"no ready scorer at {url}: start the stack with `fraudstream up` (or pass --scorer-url); it",
    )
    with (
        console.status("replaying the stolen card...") as spinner,
        _story_backfill(settings, str(bootstrap)) as backfill,
    ):
        report = run_stolen_card(
            str(bootstrap),
            str(url),
            scorer_settings,
            backfill=backfill,
            seed=seed if seed is not None else int(time.time()) % 100_000,
            speed=speed,
            api_token=token,
            progress=lambda msg: spinner.update(msg),
        )
    _print_replay(report)
    return report


@contextlib.contextmanager
def _story_backfill(
    stack_settings: StackSettings, bootstrap: str
) -> Iterator[Callable[[list[str], str], None]]:
    """The replay's backfill: a Spark session (started on first use) that tiles the story's cards."""
    from streaming.backfill import backfill_cards
    from streaming.settings import StreamSettings
    from streaming.spark import build_session

    settings = derive(StreamSettings, stack_settings, kafka_bootstrap=bootstrap)
    sessions: list[Any] = []

    def backfill(card_tokens: list[str], after: str) -> None:
        if not sessions:
            sessions.append(
                build_session("fraudstream-replay-backfill", settings.jars_dir, master="local[1]")
            )
            sessions[0].sparkContext.setLogLevel("ERROR")
        # The history driver commits every FRAUDSTREAM_HISTORY_TRIGGER_S, at a lower CPU priority:
        # on a busy machine its first commit can take minutes (its Spark session starts first).
        backfill_cards(sessions[0], settings, card_tokens, after, timeout_s=600)

    try:
        yield backfill
    finally:
        for spark in sessions:
            spark.stop()


def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Seed of the story (7 is a hard, domestic theft).")] = 1,
    speed: Annotated[float, typer.Option(help="Event-time compression of the theft.")] = 60.0,
    json_path: Annotated[
        str | None, typer.Option("--json", help="Also write the outcome as JSON here.")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Leave the stack running afterwards.")] = False,
) -> None:
    """The whole story once: train a baseline, start the stack, replay a stolen card, stop everything.

    It runs in its own state folder (<state_dir>/demo), emptied first, so it never touches the data
    of a stack started with `fraudstream up`.
    """
    import shutil

    base = settings_of(ctx).get(StackSettings, warn_dev_key=True)
    demo_dir = base.state_dir / "demo"
    # Passed down, not through the environment: every helper and process of the demo gets this folder.
    settings = derive(StackSettings, base, state_dir=demo_dir)
    if stack.StackInfo.load(stack.stack_file(settings)) is not None:
        stack.down(settings)
    shutil.rmtree(demo_dir, ignore_errors=True)
    started = time.monotonic()
    train_baseline(settings)
    with console.status("starting Kafka, the feature job and the scorer (Spark takes ~30 s)..."):
        stack.up(settings)
    print_status(stack.status(settings))
    try:
        outcome = _replay_stolen_card(settings, speed, seed, None)
        path = json_path or str(demo_dir / "replay.json")
        with open(path, "w") as fh:
            json.dump(outcome.summary(), fh, indent=2, default=str)
        console.print(f"outcome written to {path}; demo took {time.monotonic() - started:.0f} s")
    finally:
        if not keep:
            with console.status("stopping the stack"):
                stack.down(settings)
