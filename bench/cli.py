"""`fraudstream-bench ...` (or `python -m bench`): each benchmark is one command that prints ratios against
its own baseline. Its own entry point: the product CLI does not import the benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

bench_app = typer.Typer(
    help="Benchmarks; each prints ratios against a baseline measured in the same run.",
    no_args_is_help=True,
    add_completion=False,
    # Every option also reads FRAUDSTREAM_BENCH_<BENCHMARK>_<OPTION>, and --help shows which.
    context_settings={"auto_envvar_prefix": "FRAUDSTREAM_BENCH"},
)
# Tables are wide; when output is piped (CI logs, tee), do not squeeze them into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)

JsonOption = Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON here.")]


@bench_app.command("scorer")
def scorer(
    json_path: JsonOption = None,
    cards: Annotated[int, typer.Option(help="Cards in the scorer's online feature table.")] = 100_000,
    duration: Annotated[float, typer.Option(help="Seconds of each wrk run.")] = 10.0,
    kafka: Annotated[
        bool, typer.Option(help="Also run the scorer publishing to a real embedded Kafka broker.")
    ] = True,
    kind: Annotated[
        str,
        typer.Option(
            help="Kind of the served model and the challenger, as `fraudstream train --kind`: "
            "auto (the trainer's default: fit both, keep the better), logistic or gbm."
        ),
    ] = "auto",
) -> None:
    """POST /v1/score (1 uvicorn worker, 100k cards, trained model, default rules) vs a bare endpoint."""
    from bench.scorer import run
    from scoring.training.selection import parse_kind

    try:
        model_kind = parse_kind(kind)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    run(cards=cards, duration_s=duration, kafka=kafka, kind=model_kind, json_path=json_path, console=console)


@bench_app.command("stream")
def stream(
    json_path: JsonOption = None,
    fresh_rate: Annotated[
        list[float] | None,
        typer.Option(
            help="Swipes/s of the freshness phase, 60 s each; repeat for several, run in order.",
            show_default="100",
            min=1,
        ),
    ] = None,
    backlog: Annotated[int, typer.Option(help="Swipes dumped at once to measure the drain rate.")] = 30_000,
    drain: Annotated[
        bool,
        typer.Option(
            help="Measure the drain rate and the held rates; --no-drain: freshness only (and the raw read)."
        ),
    ] = True,
    one_driver: Annotated[
        bool,
        typer.Option(
            help="Run the history queries in the hot query's driver (FRAUDSTREAM_HISTORY_APART=false)."
        ),
    ] = False,
) -> None:
    """The Spark feature job on local[2] with a real broker: freshness at each rate, max rate, raw read."""
    from bench.stream import run

    run(
        fresh_rates=fresh_rate or [100.0],
        backlog=backlog,
        drain=drain,
        one_driver=one_driver,
        json_path=json_path,
        console=console,
    )


@bench_app.command("tiles")
def tiles(
    json_path: JsonOption = None,
    swipes: Annotated[int, typer.Option(help="Swipes preloaded on the topic.")] = 300_000,
    batch: Annotated[int, typer.Option(help="Swipes a micro-batch (maxOffsetsPerTrigger).")] = 100_000,
    conf: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE: run the hot query once more with this Spark setting (repeatable)."),
    ] = None,
) -> None:
    """The hot query alone on a preloaded topic vs a parse-only query and a raw read: swipes/s, CPU."""
    from bench.tiles import run

    run(swipes=swipes, batch=batch, confs=conf, json_path=json_path, console=console)


@bench_app.command("state")
def state(
    json_path: JsonOption = None,
    cards: Annotated[int, typer.Option(help="Cards that swipe on the simulated day.")] = 100_000,
    per_card: Annotated[int, typer.Option(help="Swipes of each card that day.")] = 2,
) -> None:
    """The card_tiles query's state (rows, RocksDB memory, files) for a day of N cards vs their swipes."""
    from bench.state import run

    run(cards=cards, per_card=per_card, json_path=json_path, console=console)


@bench_app.command("replay")
def replay(
    json_path: JsonOption = None,
    rows: Annotated[int, typer.Option(help="Rows of the generated CSV.")] = 200_000,
) -> None:
    """`fraudstream replay --file` throughput vs raw confluent-kafka produce of the same records."""
    from bench.replay import run

    run(rows=rows, json_path=json_path, console=console)


@bench_app.command("generate")
def generate(
    json_path: JsonOption = None,
    cards: Annotated[int, typer.Option(help="Cards of the large population (against 10,000).")] = 1_000_000,
    swipes: Annotated[int, typer.Option(help="Swipes per generator run, in memory and to Kafka.")] = 200_000,
) -> None:
    """The swipe generator at --cards vs 10,000 cards, and to Kafka vs raw confluent-kafka produce."""
    from bench.generate import run

    run(cards=cards, swipes=swipes, json_path=json_path, console=console)


@bench_app.command("backtest")
def backtest(
    json_path: JsonOption = None,
    cards: Annotated[int, typer.Option(help="Cards of the generated file (~2.5 swipes a day each).")] = 4400,
    days: Annotated[float, typer.Option(help="Days of the generated file.")] = 182.0,
    file: Annotated[
        Path | None, typer.Option(help="Use this `fraudstream generate-file` output instead of generating.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Feature worker processes.", min=1)] = 2,
    kind: Annotated[str, typer.Option(help="Model kind: logistic or gbm.")] = "logistic",
) -> None:
    """`fraudstream backtest` rows/s (~2M rows, 6 months) vs reading the same file's columns."""
    from bench.backtest import run

    run(cards=cards, days=days, file=file, workers=workers, kind=kind, json_path=json_path, console=console)


@bench_app.command("catchup")
def catchup(
    json_path: JsonOption = None,
    cards: Annotated[
        int, typer.Option(help="Distinct cards on the card-tiles topic (against 10,000).", min=2)
    ] = 1_000_000,
) -> None:
    """A new scorer replica reading the whole card-tiles topic: time to ready, memory, lookups."""
    from bench.catchup import run

    run(cards=cards, json_path=json_path, console=console)


@bench_app.command("merge")
def merge(
    json_path: JsonOption = None,
    cards: Annotated[int, typer.Option(help="Cards in the table, each with a history.", min=1)] = 10_000,
    rate: Annotated[float, typer.Option(help="Swipes/s of the live stream (2 s batches).")] = 2_500.0,
    batches: Annotated[int, typer.Option(help="Live batches after the history.", min=1)] = 6,
    history_days: Annotated[float, typer.Option(help="Days of history each card starts with.")] = 14.0,
    check: Annotated[bool, typer.Option(help="Digest every merged record (outside the timing).")] = True,
    merge_per_consume: Annotated[
        bool, typer.Option(help="Merge after every 500 records read, as the follower did before.")
    ] = False,
    profile: Annotated[
        Path | None, typer.Option(help="cProfile the live batches 2+ into this file; prints the top.")
    ] = None,
) -> None:
    """The scorer's card-tiles follower (parse, take, merge) on a live tile stream vs json.loads of it."""
    from bench.merge import run

    run(
        cards=cards,
        rate=rate,
        batches=batches,
        history_days=history_days,
        check=check,
        merge_per_consume=merge_per_consume,
        profile=profile,
        json_path=json_path,
        console=console,
    )


@bench_app.command("soak")
def soak(
    json_path: JsonOption = None,
    minutes: Annotated[float, typer.Option(help="How long to hold the load.")] = 10.0,
    rate: Annotated[float, typer.Option(help="Swipes/s published to Kafka.")] = 50.0,
    score_rate: Annotated[float, typer.Option(help="Swipes/s sent to the scorer.")] = 10.0,
    sample: Annotated[float, typer.Option(help="Seconds between samples.")] = 15.0,
) -> None:
    """The whole stack at steady load: errors, RSS of the scorer and the job over time, state size."""
    from bench.soak import run

    run(
        minutes=minutes,
        rate=rate,
        score_rate=score_rate,
        sample_s=sample,
        json_path=json_path,
        console=console,
    )


@bench_app.command("all")
def run_all(
    json_dir: Annotated[
        Path | None, typer.Option(help="Write scorer.json, stream.json and replay.json here.")
    ] = None,
) -> None:
    """Every benchmark with its defaults, one after the other."""
    from bench import replay as replay_bench
    from bench import scorer as scorer_bench
    from bench import stream as stream_bench

    def path(name: str) -> Path | None:
        return json_dir / f"{name}.json" if json_dir else None

    scorer_bench.run(json_path=path("scorer"), console=console)
    stream_bench.run(json_path=path("stream"), console=console)
    replay_bench.run(json_path=path("replay"), console=console)


def main() -> None:
    """The `fraudstream-bench` entry point."""
    bench_app(prog_name="fraudstream-bench")
