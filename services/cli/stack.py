"""`fraudstream up / down / status / stream / backfill / serve`: the stack and its components."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from foundation.settings import StackSettings, derive
from services.cli.context import console, settings_of
from services.stack import control as stack


def print_status(st: dict[str, object]) -> None:
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


def up(
    ctx: typer.Context,
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
    settings = settings_of(ctx).get(StackSettings, warn_dev_key=True)
    ensure_model(settings)
    with console.status("starting what is not running (Spark takes ~30 s)..."):
        _, started = stack.heal(settings, scorer_port=port, metrics_port=metrics_port)
    if supervise:
        _, sup_started = stack.start_supervisor(settings, supervisor_port)
        started += ["supervisor"] if sup_started else []
    console.print(f"started: {', '.join(started)}" if started else "everything was already running")
    print_status(stack.status(settings))
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


def train_baseline(settings: StackSettings) -> None:
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


def ensure_model(settings: StackSettings) -> None:
    """The scorer is not ready without a model: train the baseline when there is none yet."""
    from scoring.serving.settings import ScorerSettings

    path = derive(ScorerSettings, settings).resolved_model_path
    if not path.exists():
        console.print(f"no model at {path}: training a baseline first (`fraudstream train` replaces it)")
        train_baseline(settings)


def down(ctx: typer.Context) -> None:
    """Stop what `fraudstream up` started: the supervisor first, then the scorer, the job and Kafka."""
    stopped = stack.down(settings_of(ctx).get(StackSettings))
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Each component's pid, health (ready, starting, dead), uptime and address; the Delta table paths.

    With a supervisor running (`fraudstream up --supervise`), also its restart count per component.
    """
    st = stack.status(settings_of(ctx).get(StackSettings))
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    else:
        print_status(st)


def stream(
    ctx: typer.Context,
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

        argv = spark_submit_command(settings_of(ctx).get(StreamSettings), master)
        console.print(" ".join(argv))
        raise typer.Exit(subprocess.call(argv))
    from streaming.job import main

    raise typer.Exit(main())


def backfill(
    ctx: typer.Context,
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

    settings = settings_of(ctx).get(StreamSettings)
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


def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="HTTP port.", envvar="FRAUDSTREAM_PORT")] = 8000,
    host: Annotated[str, typer.Option(help="Listen address.", envvar="FRAUDSTREAM_HOST")] = "127.0.0.1",
) -> None:
    """Run the scorer in the foreground."""
    from scoring.serving.app import serve as run
    from scoring.serving.settings import ScorerSettings

    run(settings_of(ctx).get(ScorerSettings, port=port, host=host))
