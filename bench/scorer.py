"""`fraudstream-bench scorer`: POST /v1/score against a bare FastAPI endpoint, same server, same wrk.

Servers run one at a time (the machine has few cores): the scorer without Kafka, the bare
endpoint, the scorer publishing to a real embedded broker, the bare endpoint again. The bare
figure used in the ratios is the mean of its two runs, which brackets the scorer runs in time.

A shadow model (FRAUDSTREAM_SHADOW_MODEL, a second model trained on another seed) runs as its own
variants, beside the same scorer without one: `shadow` holds the ratios of latency and req/s
with a challenger to without, measured in the same run.

Besides req/s, each saturation run reads the server process's CPU time (user + system, from
/proc) before and after: CPU per request moves far less than req/s when other work shares the
cores, so `cpu_ratio_vs_bare` (bare's CPU per request / the server's) is the steadier figure.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from bench import machine, output
from bench.kafka import embedded_broker, free_port, fresh_name
from bench.measure import WrkResult, ratio
from bench.scorer_data import BenchInputs, build_inputs
from bench.scorer_shadow import shadow_cost
from bench.wrk import command_line, run_wrk, write_script
from foundation.topics import ensure_topics
from scoring.serving.settings import ScorerSettings
from scoring.training.selection import ModelKind
from services.training.trainer import train_on_generated

SATURATION_CONNECTIONS = 32
LATENCY_CONNECTIONS = 4
WARMUP_S = 3.0


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str  # "scorer" or "bare"
    kafka: bool = False
    shadow: bool = False


@dataclass
class VariantResult:
    variant: Variant
    saturation: WrkResult
    latency: WrkResult
    cpu_us_per_request: float = math.nan  # the server process's, during the saturation run


class Server:
    """One `python -m bench.server` child; stderr (its JSON log) goes to a file, never a full pipe."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.server", *args, "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bench server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"bench server not ready within {timeout_s:.0f} s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (its threads included); NaN off Linux."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return math.nan
        # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _load(
    server: Server, script: Path, bodies: Path, duration_s: float
) -> tuple[WrkResult, WrkResult, float]:
    """Warm-up, then the saturation and latency runs; also the server's CPU µs per saturation request."""
    url = f"{server.url}/v1/score"
    run_wrk(url, script, bodies, connections=LATENCY_CONNECTIONS, duration_s=WARMUP_S)
    cpu_before = server.cpu_seconds()
    sat = run_wrk(url, script, bodies, connections=SATURATION_CONNECTIONS, duration_s=duration_s)
    cpu_us = (server.cpu_seconds() - cpu_before) / max(sat.requests, 1) * 1e6
    lat = run_wrk(url, script, bodies, connections=LATENCY_CONNECTIONS, duration_s=duration_s)
    return sat, lat, cpu_us


def _probe_response(url: str, bodies: Path, count: int = 200) -> bytes:
    """The median-sized real scorer response over the first `count` bodies: the bare endpoint's body."""
    answers = []
    with bodies.open() as fh, httpx.Client(timeout=10) as client:
        for _, line in zip(range(count), fh, strict=False):
            resp = client.post(
                f"{url}/v1/score", content=line.strip(), headers={"content-type": "application/json"}
            )
            if resp.status_code != 200:
                raise RuntimeError(f"scorer answered {resp.status_code} to a bench body: {resp.text[:500]}")
            answers.append(resp.content)
    answers.sort(key=len)
    return answers[len(answers) // 2]


@dataclass
class _Runs:
    """Starts each variant's server, loads it with wrk, and keeps the results in order."""

    console: Console
    logs: Path
    script: Path
    inputs: BenchInputs
    bare_body: Path  # a scorer response, for the bare app to answer with
    duration_s: float
    results: list[VariantResult] = field(default_factory=list)

    def measure(self, variant: Variant, args: list[str]) -> None:
        with self.console.status(
            f"{variant.name}: starting, then wrk {self.duration_s:g} s @{SATURATION_CONNECTIONS} "
            f"and {self.duration_s:g} s @{LATENCY_CONNECTIONS} connections"
        ):
            server = Server(args, self.logs)
            try:
                server.wait_ready()
                if variant.kind == "scorer" and not self.bare_body.exists():
                    self.bare_body.write_bytes(_probe_response(server.url, self.inputs.bodies_path))
                sat, lat, cpu_us = _load(server, self.script, self.inputs.bodies_path, self.duration_s)
            finally:
                server.stop()
        self.results.append(VariantResult(variant, sat, lat, cpu_us))
        self.console.print(
            f"  {variant.name}: {sat.requests_per_s:,.0f} req/s @{SATURATION_CONNECTIONS} "
            f"({cpu_us:,.0f} µs server CPU a request), p99 {lat.p(99):.2f} ms @{LATENCY_CONNECTIONS}"
        )


def _measure_with_kafka(
    runs: _Runs, tmp: Path, settings: ScorerSettings, scorer_args: list[str], shadow_args: list[str]
) -> None:
    """The scorer publishing its decisions to an embedded broker, without and with the shadow model."""
    swipes, decisions = fresh_name("swipes"), fresh_name("decisions")
    with (
        runs.console.status("starting an embedded Kafka broker"),
        embedded_broker(tmp / "kafka", settings.jars_dir) as bootstrap,
    ):
        ensure_topics(bootstrap, [swipes, decisions], partitions=settings.topic_partitions)
        flags = ["--bootstrap", bootstrap, "--topic-swipes", swipes, "--topic-decisions", decisions]
        kafka_args = [*scorer_args, *flags]
        runs.measure(Variant("scorer, publishing to Kafka", "scorer", kafka=True), kafka_args)
        runs.measure(
            Variant("scorer, publishing to Kafka, shadow model", "scorer", kafka=True, shadow=True),
            [*kafka_args, *shadow_args],
        )


def run(
    *,
    cards: int = 100_000,
    duration_s: float = 10.0,
    kafka: bool = True,
    kind: ModelKind = "auto",
    json_path: Path | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    console = console or Console()
    info = machine.describe()
    console.print(f"[bold]scorer bench[/] on {machine.summary(info)}")
    settings = ScorerSettings()
    key = settings.token_key.get_secret_value().encode()
    with tempfile.TemporaryDirectory(prefix="fraudstream-bench-") as tmp_name:
        tmp = Path(tmp_name)
        trained, challenger = _train_models(tmp, key, settings, console, kind)
        model = trained.path
        shadow_args = ["--shadow-model-path", str(challenger.path)]
        with console.status(f"folding generated history into {cards:,} cards' features"):
            inputs = build_inputs(tmp / "inputs", key, settings.feature_config, cards=cards)
        console.print(
            f"table: {inputs.cards:,} cards, {inputs.mean_record_bytes:,.0f} B per record; "
            f"{inputs.bodies:,} request bodies of {inputs.mean_body_bytes:,.0f} B (half card_token, half pan)"
        )
        runs = _Runs(
            console, tmp / "servers.log", write_script(tmp), inputs, tmp / "bare_body.json", duration_s
        )
        scorer_args = ["scorer", "--features", str(inputs.features_path), "--model-path", str(model)]
        bare_args = ["bare", "--body", str(runs.bare_body)]
        runs.measure(Variant("scorer, producer off", "scorer"), scorer_args)
        runs.measure(
            Variant("scorer, producer off, shadow model", "scorer", shadow=True), [*scorer_args, *shadow_args]
        )
        runs.measure(Variant("bare FastAPI (1st)", "bare"), bare_args)
        if kafka:
            _measure_with_kafka(runs, tmp, settings, scorer_args, shadow_args)
        runs.measure(Variant("bare FastAPI (2nd)", "bare"), bare_args)
        bare_body_bytes = len(runs.bare_body.read_bytes())
        with console.status("the challenger in process: the response path with and without it"):
            in_process = shadow_cost(inputs.features_path, inputs.bodies_path, model, challenger.path)
    result = summarize(runs.results, info, duration_s, cards, inputs, bare_body_bytes)
    result["shadow_in_process"] = in_process
    result["model"] = {"version": trained.artifact.version, "kind": trained.artifact.kind}
    result["challenger"] = {"version": challenger.artifact.version, "kind": challenger.artifact.kind}
    console.print(render(result))
    _print_shadow(console, result)
    console.print(f"bare: mean of its two runs ({', '.join(result['bare_runs_rps'])} req/s)")
    output.finish(console, result, json_path)
    return result


def _train_models(
    tmp: Path, key: bytes, settings: ScorerSettings, console: Console, kind: ModelKind
) -> tuple[Any, Any]:
    """The served model and the challenger of the shadow variants (same data size and kind, another seed)."""

    def train(directory: str, seed: int) -> Any:
        return train_on_generated(
            tmp / directory,
            key,
            settings.feature_config,
            cards=1000,
            days=5,
            per_scenario=10,
            seed=seed,
            kind=kind,
        )

    with console.status("training a small model (1,000 cards, 5 days)"):
        trained = train("models", seed=1)
    with console.status("training the challenger (another seed) for the shadow variants"):
        challenger = train("challenger", seed=2)
    how = "the trainer's default kind" if kind == "auto" else f"--kind {kind}"
    console.print(f"model: {trained.artifact.version} ({trained.artifact.kind}, {how})")
    return trained, challenger


def _print_shadow(console: Console, result: dict[str, Any]) -> None:
    for pair in result["shadow"]:
        console.print(
            f"shadow model, {'publishing to Kafka' if pair['kafka'] else 'producer off'}: "
            f"p50 x{pair['p50_ratio']:.2f}, p99 x{pair['p99_ratio']:.2f} @{LATENCY_CONNECTIONS}, "
            f"req/s x{pair['rps_ratio']:.2f} @{SATURATION_CONNECTIONS}, "
            f"CPU/request x{pair['cpu_ratio']:.2f} (with / without)"
        )
    p = result["shadow_in_process"]
    console.print(
        f"shadow model in process ({p['swipes_per_variant']:,} swipes each): response path "
        f"{p['response_us_without']:.0f} µs without, {p['response_us_with']:.0f} µs with "
        f"(x{p['response_ratio']:.2f}); after the response {p['after_response_us']:.0f} µs"
    )


def summarize(
    results: list[VariantResult], info: dict[str, Any], duration_s: float, cards: int, inputs: Any, body: int
) -> dict[str, Any]:
    bares = [r for r in results if r.variant.kind == "bare"]
    bare_rps = statistics.fmean(r.saturation.requests_per_s for r in bares)
    bare_cpu = statistics.fmean(r.cpu_us_per_request for r in bares)
    rows = []
    for r in results:
        rows.append(
            {
                "name": r.variant.name,
                "kind": r.variant.kind,
                "kafka": r.variant.kafka,
                "shadow": r.variant.shadow,
                "saturation": r.saturation.as_dict(),
                "latency": r.latency.as_dict(),
                "ratio_vs_bare": round(ratio(r.saturation.requests_per_s, bare_rps), 3),
                "cpu_us_per_request": round(r.cpu_us_per_request, 1),
                "cpu_ratio_vs_bare": round(ratio(bare_cpu, r.cpu_us_per_request), 3),
            }
        )
    return {
        "bench": "scorer",
        "machine": info,
        "cards": cards,
        "table_cards": inputs.cards,
        "request_bodies": inputs.bodies,
        "response_bytes": body,
        "duration_s": duration_s,
        "bare_requests_per_s": round(bare_rps, 1),
        "bare_cpu_us_per_request": round(bare_cpu, 1),
        "bare_runs_rps": [f"{r.saturation.requests_per_s:,.0f}" for r in bares],
        "variants": rows,
        "shadow": shadow_ratios(results),
        "commands": {
            "saturation": command_line("http://127.0.0.1:PORT/v1/score", SATURATION_CONNECTIONS, duration_s),
            "latency": command_line("http://127.0.0.1:PORT/v1/score", LATENCY_CONNECTIONS, duration_s),
        },
    }


def shadow_ratios(results: list[VariantResult]) -> list[dict[str, Any]]:
    """Per Kafka setting, the scorer with a shadow model against the same scorer without one."""
    scorers = {(r.variant.kafka, r.variant.shadow): r for r in results if r.variant.kind == "scorer"}
    out = []
    for kafka in (False, True):
        without, with_shadow = scorers.get((kafka, False)), scorers.get((kafka, True))
        if without is None or with_shadow is None:
            continue
        out.append(
            {
                "kafka": kafka,
                "p50_ratio": round(ratio(with_shadow.latency.p(50), without.latency.p(50)), 3),
                "p99_ratio": round(ratio(with_shadow.latency.p(99), without.latency.p(99)), 3),
                "rps_ratio": round(
                    ratio(with_shadow.saturation.requests_per_s, without.saturation.requests_per_s), 3
                ),
                "cpu_ratio": round(ratio(with_shadow.cpu_us_per_request, without.cpu_us_per_request), 3),
            }
        )
    return out


def render(result: dict[str, Any]) -> Any:
    rows = []
    for v in result["variants"]:
        sat, lat = v["saturation"], v["latency"]
        rows.append(
            [
                v["name"],
                output.fmt(sat["requests_per_s"]),
                output.fmt(lat["requests_per_s"]),
                output.fmt(lat["latency_ms"].get("p50", float("nan")), 2),
                output.fmt(lat["latency_ms"].get("p99", float("nan")), 2),
                f"{v['ratio_vs_bare']:.2f}",
                output.fmt(v["cpu_us_per_request"]),
                f"{v['cpu_ratio_vs_bare']:.2f}",
                str(sat["non_2xx"] + lat["non_2xx"] + sat["socket_errors"] + lat["socket_errors"]),
            ]
        )
    return output.table(
        f"POST /v1/score, {result['table_cards']:,} cards in the table, 1 uvicorn worker, wrk -t2",
        [
            "server",
            f"req/s @{SATURATION_CONNECTIONS}",
            f"req/s @{LATENCY_CONNECTIONS}",
            f"p50 ms @{LATENCY_CONNECTIONS}",
            f"p99 ms @{LATENCY_CONNECTIONS}",
            "ratio_vs_bare",
            f"CPU µs/req @{SATURATION_CONNECTIONS}",
            "cpu_ratio_vs_bare",
            "errors",
        ],
        rows,
    )
