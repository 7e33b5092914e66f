"""The `fraudstream` command line: run the stack, generate and replay traffic, train, benchmark."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services import stack
from services.settings import DEV_TOKEN_KEY, StackSettings

app = typer.Typer(
    name="fraudstream",
    help="Real-time card-fraud decisions: Kafka swipes, Spark streaming features, a FastAPI scorer.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


def _settings() -> StackSettings:
    settings = StackSettings()
    if settings.token_key.get_secret_value() == DEV_TOKEN_KEY:
        err.print(
            "[yellow]warning:[/] FRAUDSTREAM_TOKEN_KEY is the development default; set a secret in production"
        )
    return settings


def _print_status(st: dict[str, object]) -> None:
    table = Table(title="fraudstream stack")
    table.add_column("component")
    table.add_column("pid")
    table.add_column("state")
    table.add_column("address")
    for name, key in (("kafka", "bootstrap"), ("stream", "metrics"), ("scorer", "url")):
        comp = st.get(name)
        assert isinstance(comp, dict)
        alive = comp.get("alive")
        state = "[green]running[/]" if alive else "[red]stopped[/]"
        if name == "kafka" and comp.get("pid") is None:
            state = "external" if st.get("running") else state
        table.add_row(name, str(comp.get("pid") or "-"), state, str(comp.get(key) or "-"))
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
    port: Annotated[int, typer.Option(help="Scorer HTTP port.", envvar="FRAUDSTREAM_PORT")] = 8000,
    metrics_port: Annotated[
        int, typer.Option(help="Feature job Prometheus port.", envvar="FRAUDSTREAM_METRICS_PORT")
    ] = 9108,
) -> None:
    """Start Kafka (embedded unless FRAUDSTREAM_KAFKA_BOOTSTRAP is set), the feature job and the scorer."""
    settings = _settings()
    with console.status("starting Kafka, the feature job and the scorer (Spark takes ~30 s)..."):
        stack.up(settings, scorer_port=port, metrics_port=metrics_port)
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


@app.command()
def down() -> None:
    """Stop what `fraudstream up` started."""
    stopped = stack.down(StackSettings())
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Each component's pid, address and the Delta table paths."""
    st = stack.status(StackSettings())
    if as_json:
        typer.echo(json.dumps(st, indent=2))
    else:
        _print_status(st)


if __name__ == "__main__":
    app()
