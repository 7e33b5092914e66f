"""The `fraudstream` command line: run the stack, generate and replay traffic, train, backtest."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from foundation.settings import DEV_TOKEN_KEY, StackSettings, derive, setting_problems
from services.stack import control as stack

if TYPE_CHECKING:
    from services.backtest.run import Period
    from services.replay.stolen_card import ReplayReport

app = typer.Typer(
    name="fraudstream",
    help="Real-time card-fraud decisions: Kafka swipes, Spark streaming features, a FastAPI scorer.",
    no_args_is_help=True,
    add_completion=False,
    # Every option also reads FRAUDSTREAM_<COMMAND>_<OPTION> (one that names a setting, its setting's
    # variable), and --help shows which.
    context_settings={"auto_envvar_prefix": "FRAUDSTREAM"},
)
# Tables are wide; when output is piped (CI logs), do not squeeze them into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)
StackSettingsT = TypeVar("StackSettingsT", bound=StackSettings)
err = Console(stderr=True)


def main() -> None:
    """The `fraudstream` entry point: errors the user can fix print one line, not a traceback.

    A bad FRAUDSTREAM_* setting exits with code 2, as a bad flag does; an unreachable component with 1.
    """
    from pydantic import ValidationError

    from services.kafka.broker import KafkaUnavailable

    _log_to_stderr(os.environ.get("FRAUDSTREAM_LOG_LEVEL", "WARNING"))
    try:
        app()
    except (KafkaUnavailable, stack.StackError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except ValidationError as exc:
        problems = setting_problems(exc)
        if problems is None:
            raise
        for problem in problems:
            err.print(f"[bold red]error:[/] {problem}", highlight=False, soft_wrap=True)
        sys.exit(2)


def _log_to_stderr(level: str) -> None:
    """The CLI's own logging, Kafka clients' included: WARNING and up unless FRAUDSTREAM_LOG_LEVEL says."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    known = logging.getLevelName(level.upper())
    logging.basicConfig(level=known if isinstance(known, int) else logging.WARNING, handlers=[handler])


def _settings() -> StackSettings:
    """The command's stack settings, built once (then passed down)."""
    return _warn_dev_key(StackSettings())


def _warn_dev_key(settings: StackSettingsT) -> StackSettingsT:
    if settings.token_key.get_secret_value() == DEV_TOKEN_KEY:
        err.print(
            "[yellow]warning:[/] FRAUDSTREAM_TOKEN_KEY is the development default; set a secret in production"
        )
    return settings


def _print_status(st: dict[str, object]) -> None:
    from services.stack.restarts import format_uptime

    supervisor = st.get("supervisor")
    restarts = supervisor.get("restarts", {}) if isinstance(supervisor, dict) else {}
    table = Table(title="fraudstream stack")
    for column in ("component", "pid", "health", "uptime", "restarts", "address"):
        table.add_column(column)
    colour = {"ready": "green", "external": "green", "starting": "yellow"}
    rows = [("kafka", "bootstrap"), ("stream", "metrics"), ("scorer", "url")]
    if isinstance(supervisor, dict):
        rows.append(("supervisor", "metrics"))
    for name, key in rows:
        comp = supervisor if name == "supervisor" else st.get(name)
        assert isinstance(comp, dict)
        word = str(comp.get("health", "-"))
        count = str(int(restarts[name])) if name in restarts else "-"  # "-": no supervisor answers
        table.add_row(
            name,
            str(comp.get("pid") or "-"),
            f"[{colour.get(word, 'red')}]{word}[/]",
            format_uptime(comp.get("uptime_s")),
            count,
            str(comp.get(key) or "-"),
        )
    console.print(table)
    delta = st.get("delta")
    if isinstance(delta, dict) and delta:
        tables = Table(title="Delta tables")
        tables.add_column("table")
        tables.add_column("path")
        for name, path in delta.items():
            tables.add_row(name, path)
        console.print(tables)


@app.command()
def up(
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Return once everything is ready.")] = False,
    port: Annotated[
        int, typer.Option(help="Scorer HTTP port (kept across restarts).", envvar="FRAUDSTREAM_PORT")
    ] = 8000,
    metrics_port: Annotated[
        int, typer.Option(help="Feature job Prometheus port.", envvar="FRAUDSTREAM_METRICS_PORT")
    ] = 9108,
    supervise: Annotated[
        bool,
        typer.Option(
            "--supervise",
            help="Also run the supervisor: it restarts a crashed component with backoff and counts it "
            "(fraudstream_component_restarts_total on --supervisor-port).",
            envvar="FRAUDSTREAM_SUPERVISE",
        ),
    ] = False,
    supervisor_port: Annotated[
        int, typer.Option(help="The supervisor's Prometheus port.", envvar="FRAUDSTREAM_SUPERVISOR_PORT")
    ] = 9110,
) -> None:
    """Start what is not running of Kafka (embedded unless FRAUDSTREAM_KAFKA_BOOTSTRAP is set), the feature
    job and the scorer; leave running ones alone. Run it again after a crash to bring back what died.
    """
    settings = _settings()
    _ensure_model(settings)
    with console.status("starting what is not running (Spark takes ~30 s)..."):
        _, started = stack.heal(settings, scorer_port=port, metrics_port=metrics_port)
    if supervise:
        _, sup_started = stack.start_supervisor(settings, supervisor_port)
        started += ["supervisor"] if sup_started else []
    console.print(f"started: {', '.join(started)}" if started else "everything was already running")
    _print_status(stack.status(settings))
    if detach:
        console.print("stop it with [bold]fraudstream down[/]")
        return
    console.print("running; press Ctrl-C to stop")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stopped = stack.down(settings)
        console.print(f"stopped: {', '.join(stopped) or 'nothing'}")


def _train_baseline(settings: StackSettings) -> None:
    """Train the baseline model on generated history into the scorer's model folder."""
    from scoring.serving.settings import ScorerSettings
    from services.training.trainer import train_on_generated

    scorer_settings = derive(ScorerSettings, settings)
    with console.status("training the baseline model on generated history") as spinner:
        report = train_on_generated(
            scorer_settings.resolved_model_path.parent,
            scorer_settings.token_key.get_secret_value().encode(),
            scorer_settings.feature_config,
            progress=lambda m: spinner.update(m),
        )
    console.print(
        f"model {report.artifact.version}: validation AUC {report.artifact.metrics.roc_auc or 0:.3f}"
    )


def _ensure_model(settings: StackSettings) -> None:
    """The scorer is not ready without a model: train the baseline when there is none yet."""
    from scoring.serving.settings import ScorerSettings

    path = derive(ScorerSettings, settings).resolved_model_path
    if not path.exists():
        console.print(f"no model at {path}: training a baseline first (`fraudstream train` replaces it)")
        _train_baseline(settings)


@app.command()
def down() -> None:
    """Stop what `fraudstream up` started: the supervisor first, then the scorer, the job and Kafka."""
    stopped = stack.down(StackSettings())
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Each component's pid, health (ready, starting, dead), uptime and address; the Delta table paths.

    With a supervisor running (`fraudstream up --supervise`), also its restart count per component.
    """
    st = stack.status(StackSettings())
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    else:
        _print_status(st)


@app.command()
def stream(
    master: Annotated[
        str | None,
        typer.Option(
            help="Submit to this cluster (spark://host:7077, k8s://..., yarn) with spark-submit "
            "and the connector jars; unset: run in this process on FRAUDSTREAM_SPARK_MASTER."
        ),
    ] = None,
) -> None:
    """Run the Spark feature job in the foreground (default local[2])."""
    if master:
        import subprocess

        from streaming.job import spark_submit_command
        from streaming.settings import StreamSettings

        argv = spark_submit_command(StreamSettings(), master)
        console.print(" ".join(argv))
        raise typer.Exit(subprocess.call(argv))
    from streaming.job import main

    raise typer.Exit(main())


@app.command()
def backfill(
    days: Annotated[
        float | None,
        typer.Option(help="Only swipes of the last N days of event time; unset: the whole table.", min=0),
    ] = None,
) -> None:
    """Tile the Delta `swipes` table in Spark batch and publish the tiles to card-tiles (new scorer
    replicas, history behind the watermark)."""
    from datetime import UTC, datetime, timedelta

    from streaming.backfill import publish_tiles, swipes_since
    from streaming.settings import StreamSettings
    from streaming.spark import build_session

    settings = StreamSettings()
    since = datetime.now(UTC) - timedelta(days=days) if days is not None else None
    with console.status(f"starting Spark ({settings.spark_master}) and tiling Delta swipes"):
        spark = build_session("fraudstream-backfill", settings.jars_dir, master=settings.spark_master)
        try:
            report = publish_tiles(swipes_since(spark, settings, since), settings)
        except ValueError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from None
        finally:
            spark.stop()
    console.print(
        f"backfilled {report.tiles:,} tiles of {report.cards:,} cards from {report.swipes:,} swipes "
        f"to {report.topic!r}"
    )


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="HTTP port.", envvar="FRAUDSTREAM_PORT")] = 8000,
    host: Annotated[str, typer.Option(help="Listen address.", envvar="FRAUDSTREAM_HOST")] = "127.0.0.1",
) -> None:
    """Run the scorer in the foreground."""
    from scoring.serving.app import serve as run
    from scoring.serving.settings import ScorerSettings

    run(ScorerSettings(port=port, host=host))


@app.command()
def generate(
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
        _settings(), rate, count, duration, cards, scenario or (), seed, wallclock=wallclock, console=console
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


@app.command()
def replay(
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
    settings = _settings()
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
        backfill_cards(sessions[0], settings, card_tokens, after, timeout_s=300)

    try:
        yield backfill
    finally:
        for spark in sessions:
            spark.stop()


@app.command()
def train(
    source: Annotated[
        str,
        typer.Option(
            help="generated: fresh labeled traffic; delta: the feature job's Delta swipes + labels."
        ),
    ] = "generated",
    seed: Annotated[int, typer.Option(help="Seed of the generated history (and of the model).")] = 1,
    cards: Annotated[int, typer.Option(help="Cards in the generated history.")] = 2000,
    days: Annotated[
        float, typer.Option(help="Days of generated history; for delta, days before --to.")
    ] = 10.0,
    kind: Annotated[
        str,
        typer.Option(
            help="Model kind: auto (fit both, keep the better average precision on the latest slice), "
            "logistic (regression) or gbm (boosted trees, MCC prior)."
        ),
    ] = "auto",
    train_to: Annotated[
        str | None,
        typer.Option("--to", help="delta: end of the training window (UTC ISO date/time); default now."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="delta: only labels reported by then count (UTC ISO); default --to.")
    ] = None,
    label_delay: Annotated[
        str,
        typer.Option(
            help="delta: how long a chargeback can take (90s, 12h, 7d); younger swipes are skipped."
        ),
    ] = "7d",
    merchant_features: Annotated[
        bool,
        typer.Option(
            help="Learn from the merchant's volume and known fraud rate (the scorer then reads "
            "merchant-features)."
        ),
    ] = True,
    promote_if_better: Annotated[
        bool,
        typer.Option(
            help="Train from Delta, backtest against the serving model on the latest labeled window, "
            "publish only if the gate passes; the comparison goes to models/comparisons/.",
        ),
    ] = False,
    ap_margin: Annotated[
        float,
        typer.Option(
            help="--promote-if-better: how much lower the candidate's average precision may be.",
            envvar="FRAUDSTREAM_PROMOTE_AP_MARGIN",
        ),
    ] = 0.01,
    deny_rate_bound: Annotated[
        float,
        typer.Option(
            help="--promote-if-better: how far (a fraction of swipes) its deny rate may move.",
            envvar="FRAUDSTREAM_PROMOTE_DENY_RATE_BOUND",
        ),
    ] = 0.02,
    backtest_days: Annotated[
        float,
        typer.Option(
            help="--promote-if-better: the latest settled days the two models are compared on.",
            envvar="FRAUDSTREAM_PROMOTE_BACKTEST_DAYS",
        ),
    ] = 2.0,
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
            console, model_kind, window_options, (ap_margin, deny_rate_bound), merchant_features, seed
        )
        return
    if source not in ("generated", "delta"):
        raise typer.BadParameter(f"--source must be generated or delta, not {source!r}")
    from scoring.serving.settings import ScorerSettings
    from services.training import trainer

    settings = ScorerSettings()
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
                kind=model_kind,
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
                kind=model_kind,
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


@app.command()
def demo(
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

    base = _settings()
    demo_dir = base.state_dir / "demo"
    # Passed down, not through the environment: every helper and process of the demo gets this folder.
    settings = derive(StackSettings, base, state_dir=demo_dir)
    if stack.StackInfo.load(stack.stack_file(settings)) is not None:
        stack.down(settings)
    shutil.rmtree(demo_dir, ignore_errors=True)
    started = time.monotonic()
    _train_baseline(settings)
    with console.status("starting Kafka, the feature job and the scorer (Spark takes ~30 s)..."):
        stack.up(settings)
    _print_status(stack.status(settings))
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


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{option} {value!r} is not a date; write it YYYY-MM-DD") from None


@app.command()
def backtest(
    file: Annotated[Path, typer.Option("--file", help="Labeled CSV or Parquet file of transactions.")],
    mapping: Annotated[
        str,
        typer.Option(
            "--map",
            help="As `replay --file` (card=COL,amount=COL,time=COL,label=COL,id=COL,...), plus the "
            "optional reported=COL: when each fraud label became known (default: the swipe's time), "
            "and scenario=COL: each fraud's family or kind, for a breakdown.",
        ),
    ],
    train_from: Annotated[str, typer.Option(help="First day of the train period, YYYY-MM-DD (UTC).")],
    train_to: Annotated[str, typer.Option(help="Last day of the train period (inclusive).")],
    scores: Annotated[
        Path, typer.Option("--scores", help="Write id, score, decision per test row here (.csv/.parquet).")
    ],
    test_from: Annotated[
        str | None,
        typer.Option(help="First day of the test period; default: the first day --delay after --train-to."),
    ] = None,
    test_to: Annotated[
        str | None,
        typer.Option(help="Last day of the test period (inclusive); default: as long as the train period."),
    ] = None,
    delay: Annotated[
        str | None,
        typer.Option(
            help="The gap between train and test (7d, 12h, 3600 or 3600s): the model is trained as of the "
            "test's start, so the train period's chargebacks have had the gap to arrive; the gap's swipes "
            "are neither examples nor scored. Default 0 (or what --test-from leaves)."
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="The HTML report; default: the scores path with .html.")
    ] = None,
    kind: Annotated[
        str,
        typer.Option(
            help="Model kind, as `fraudstream train`: auto (fit both, keep the better), logistic or gbm."
        ),
    ] = "auto",
    merchant_features: Annotated[
        bool,
        typer.Option(
            help="Learn from the merchant's volume and fraud share (labels count once reported, windows end "
            "FRAUDSTREAM_LABEL_DELAY_S, default 7 d, before the swipe); needs merchant=COL."
        ),
    ] = True,
    rules: Annotated[
        Path | None, typer.Option(help="Rules the decisions apply first; default: the scorer's rules file.")
    ] = None,
    no_rules: Annotated[
        bool, typer.Option("--no-rules", help="Decide by the model's threshold alone.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes folding features (cards are split among them).",
            min=1,
            envvar="FRAUDSTREAM_BACKTEST_WORKERS",
        ),
    ] = 2,
    k: Annotated[int, typer.Option("--k", help="Cards per day for card precision@k.", min=1)] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the model fit.")] = 0,
    label_delay: Annotated[
        str,
        typer.Option(
            help="Train only on swipes older than this at the train period's end (90s, 12h, 7d): "
            "younger ones may still get a chargeback. Frauds reported later train as legitimate."
        ),
    ] = "0s",
    bootstrap: Annotated[
        int,
        typer.Option(
            help="Resamples for the confidence intervals of AUC, AP and card precision; 0: none.", min=0
        ),
    ] = 200,
    bootstrap_by: Annotated[
        str,
        typer.Option(
            help="What the bootstrap resamples: card (default: fraud clusters by card) or day (long test "
            "periods: keeps each day whole)."
        ),
    ] = "card",
    confidence: Annotated[float, typer.Option(help="Level of the intervals.", min=0.5, max=0.999)] = 0.95,
    known_cards: Annotated[
        str,
        typer.Option(
            help="Which cards card precision leaves out of a day: reported (a fraud label reported before "
            "the day) or found (a hit in an earlier test day's top k, or reported before the test)."
        ),
    ] = "reported",
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
    from services.backtest.report import run_and_report
    from services.backtest.run import BacktestSpec, Period
    from services.replay.file import MappingError
    from services.training.trainer import parse_duration

    scorer_settings = _warn_dev_key(ScorerSettings())
    try:
        train_period = Period(_day(train_from, "--train-from"), _day(train_to, "--train-to"))
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
        run_and_report(
            file,
            mapping,
            spec,
            scorer_settings.token_key.get_secret_value().encode(),
            scorer_settings.feature_config,
            scores,
            report or scores.with_suffix(".html"),
            console,
        )
    except (MappingError, ValueError, FileNotFoundError) as exc:
        err.print(f"[red]backtest failed:[/] {exc}")
        raise typer.Exit(2) from None


def _test_period(
    train: Period, test_from: str | None, test_to: str | None, delay: timedelta, delay_text: str | None
) -> Period:
    """The test period the options give: --test-from/--test-to, else from --delay (see the help)."""
    from services.backtest.run import Period, period_after_delay

    after = period_after_delay(train, delay)
    first = after.first if test_from is None else _day(test_from, "--test-from")
    if delay_text is not None and first < after.first:
        raise ValueError(
            f"--test-from {first} starts before the --delay {delay_text} after --train-to {train.last} is "
            f"over ({after.first}); start the test later or shorten the delay"
        )
    last = first + timedelta(days=train.days - 1) if test_to is None else _day(test_to, "--test-to")
    return Period(first, last)


@app.command("generate-file")
def generate_file(
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
    first = datetime.combine(_day(start, "--start"), datetime.min.time(), tzinfo=UTC)
    with console.status(f"generating {days:g} days of {cards:,} cards ({profile})") as spinner:
        written = write_generated_history(
            path,
            _settings().token_key.get_secret_value().encode(),
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


# Rules files against history: `fraudstream rules test`.
from services.cli.rules import rules_app  # noqa: E402

app.add_typer(rules_app, name="rules")

# The challenger's comparison (services/cli/shadow.py): `fraudstream shadow report`.
from services.cli.shadow import shadow_app  # noqa: E402

app.add_typer(shadow_app, name="shadow")


if __name__ == "__main__":
    app()
