"""The generator's Kafka edge: keyed idempotent publishers, and `generate` (traffic, scenarios, labels)."""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from foundation.settings import StackSettings
from foundation.topics import admin_config, ensure_topics, kafka_logger
from services.generator.field_scenarios import TERMINAL, MerchantCompromise
from services.generator.population import Population, PopulationConfig, build_population
from services.generator.scenario_mix import FAMILIES
from services.generator.scenarios import LabelDelay, LabeledSwipe, labels_for
from services.generator.traffic import background
from services.kafka.broker import KafkaUnavailable
from streaming.schema import Label, Swipe, to_kafka

Progress = Callable[[int, float], None]  # (swipes sent so far, seconds since start)
CHARGEBACKS = LabelDelay()
END = datetime.max.replace(tzinfo=UTC)


def producer_config(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,  # retries cannot duplicate or reorder a card's swipes
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "logger": kafka_logger("producer"),
    }


class _KeyedPublisher:
    """Publishes records keyed by card token, so a card's events stay in order on one partition."""

    def __init__(self, bootstrap: str, topic: str, producer: Any = None) -> None:
        # No network call here: librdkafka connects in the background on first use.
        self.topic = topic
        self.producer = producer if producer is not None else Producer(producer_config(bootstrap))
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.last_error: str | None = None

    def _on_delivery(self, err: KafkaError | None, _msg: object) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            self.last_error = str(err)

    def _produce(self, card_token: str, record: BaseModel) -> None:
        value = to_kafka(record)
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=card_token, on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: let librdkafka send, then retry
                self.producer.poll(0.05)
        self.sent += 1
        if self.sent % 1000 == 0:
            self.producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> int:
        """Wait for every delivery report; returns how many messages are still undelivered."""
        return int(self.producer.flush(timeout_s))


class SwipePublisher(_KeyedPublisher):
    def publish(self, swipe: Swipe) -> None:
        self._produce(swipe.card_token, swipe)


class LabelPublisher(_KeyedPublisher):
    def publish(self, label: Label) -> None:
        self._produce(label.card_token, label)


def check_reachable(bootstrap: str, timeout_s: float = 10.0) -> None:
    """Raise KafkaUnavailable with what to do next when no broker answers at `bootstrap`."""
    try:
        # log_level 0: librdkafka would print a connection failure every 50 ms while we wait.
        AdminClient(admin_config(bootstrap, {"log_level": 0})).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailable(
            f"Kafka at {bootstrap} is not reachable ({exc}); start it with `fraudstream up` "
            "or set FRAUDSTREAM_KAFKA_BOOTSTRAP"
        ) from exc


@dataclass
class GenerateReport:
    swipes: int = 0
    labels: int = 0
    elapsed_s: float = 0.0
    by_kind: Counter[str] = field(default_factory=Counter)  # "legit" and one key per scenario's fraud
    planned_fraud: Counter[str] = field(default_factory=Counter)  # including swipes past the run's end
    delivery_errors: int = 0
    last_error: str | None = None
    first_event: datetime | None = None
    last_event: datetime | None = None
    seed: int | None = None  # the run's seed: `--seed` reproduces it

    @property
    def rate(self) -> float:
        return self.swipes / self.elapsed_s if self.elapsed_s > 0 else 0.0


def expected_span(pop: Population, rate: float, count: int | None, duration_s: float | None) -> timedelta:
    """How much event time a run will cover, to place the scenarios inside it."""
    if count is not None:
        swipes = float(count)
    else:
        assert duration_s is not None
        swipes = duration_s * (rate if rate > 0 else 50_000.0)  # as fast as possible: about 50k/s
    return timedelta(seconds=swipes / pop.expected_swipes_per_second())


@dataclass(frozen=True)
class Plan:
    """The scenario swipes of a run, in time order, and the merchants compromised over it."""

    swipes: list[LabeledSwipe]
    windows: list[MerchantCompromise] = field(default_factory=list)

    def compromised(self, swipe: Swipe) -> bool:
        """A background swipe at a compromised merchant while the compromise lasts: fraud."""
        return any(w.covers(swipe) for w in self.windows)


def plan_scenarios(
    pop: Population,
    names: Sequence[str],
    start: datetime,
    span: timedelta,
    instances: int,
    rng: np.random.Generator,
) -> Plan:
    """Run `instances` of each named family at anchors spread over the run, merged in time order.

    Any family of `services.generator.scenario_mix.FAMILIES`: the classic scenarios and the field's families
    (terminal compromise, escalating card, low and slow). The scenario cards' history comes from
    the background traffic, so no extra history is drawn. Stolen-card thefts land on a 30-minute
    boundary, like the demo story's 09:00:00.
    """
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {', '.join(FAMILIES)}")
    runs, windows = [], []
    for name in names:
        for k in range(instances):
            anchor = start + span * ((k + 0.25 + 0.5 * rng.random()) / instances) * 0.8
            if name == "stolen_card":
                anchor = _ceil_to(anchor, timedelta(minutes=30))
            outcome = FAMILIES[name](pop, anchor, rng, 0.0, start + span - anchor)
            runs.append(outcome.swipes)
            windows += outcome.windows
    return Plan(list(heapq.merge(*runs, key=lambda ls: ls.swipe.event_time)), windows)


def _ceil_to(at: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + step * math.ceil((at - epoch) / step)


def fresh_seed() -> int:
    """A seed from the operating system's entropy, small enough to type back as `--seed`."""
    entropy = np.random.SeedSequence().entropy
    assert isinstance(entropy, int)  # drawn from the OS when none is given: always one int
    return entropy % 2**32


@dataclass
class _PendingLabels:
    """Labels held until the stream's event time passes their `publish_at`, earliest first."""

    publisher: LabelPublisher
    report: GenerateReport
    heap: list[tuple[datetime, int, Label]] = field(default_factory=list)
    tie: Iterator[int] = field(default_factory=itertools.count)

    def hold(self, labeled: LabeledSwipe, rng: np.random.Generator, delay: LabelDelay) -> None:
        for label, publish_at in labels_for([labeled], rng, delay):
            heapq.heappush(self.heap, (publish_at, next(self.tie), label))

    def release(self, until: datetime | None) -> None:
        """Publish every label due by `until` (None: all of them)."""
        while self.heap and (until is None or self.heap[0][0] <= until):
            self.publisher.publish(heapq.heappop(self.heap)[2])
            self.report.labels += 1


def _thefts(planned: Sequence[LabeledSwipe]) -> dict[str, datetime]:
    """Per stolen card, its theft's first swipe time: its owner no longer has the card from then on."""
    stolen: dict[str, datetime] = {}
    for ls in planned:
        if ls.is_fraud and ls.scenario == "stolen_card":
            stolen.setdefault(ls.swipe.card_token, ls.swipe.event_time)
    return stolen


def _owner_lost(stolen: dict[str, datetime], swipe: Swipe) -> bool:
    """A background swipe of a stolen card from its theft on: its owner no longer has the card."""
    return swipe.event_time >= stolen.get(swipe.card_token, END)


def _labeled(swipe: Swipe, planned: Swipe, scenario: LabeledSwipe | None, plan: Plan) -> LabeledSwipe | None:
    """The label `swipe` (as sent) carries: its scenario's, a compromised terminal's, or none (legit)."""
    if scenario is None and plan.windows and plan.compromised(planned):
        scenario = LabeledSwipe(planned, True, TERMINAL)
    return None if scenario is None else LabeledSwipe(swipe, scenario.is_fraud, scenario.scenario)


def _plan(
    settings: StackSettings,
    rate: float,
    count: int | None,
    duration_s: float | None,
    cards: int,
    scenarios: Sequence[str],
    seed: int,
    start: datetime,
    scenario_instances: int,
) -> tuple[Population, Plan, np.random.Generator, np.random.Generator]:
    """The population and the scenario plan of `seed`, plus the traffic and label generators."""
    seeds = np.random.SeedSequence(seed).spawn(4)
    pop_rng, traffic_rng, scenario_rng, label_rng = (np.random.default_rng(s) for s in seeds)
    key = settings.token_key.get_secret_value().encode()
    pop = build_population(pop_rng, key, PopulationConfig(cards=cards))
    span = expected_span(pop, rate, count, duration_s)
    plan = plan_scenarios(pop, scenarios, start, span, scenario_instances, scenario_rng)
    return pop, plan, traffic_rng, label_rng


def _pace(
    sent: int, rate: float, t0: float, clock: Callable[[], float], sleep: Callable[[float], None]
) -> float:
    """Sleep while `sent` swipes are ahead of `rate` (0: no limit); the seconds since `t0`."""
    if rate > 0 and (ahead := sent / rate - (clock() - t0)) > 0.002:
        sleep(ahead)
    return clock() - t0


def _count(report: GenerateReport, swipe: Swipe, labeled: LabeledSwipe | None) -> None:
    report.by_kind[labeled.scenario if labeled is not None and labeled.is_fraud else "legit"] += 1
    report.first_event = report.first_event or swipe.event_time
    report.last_event = swipe.event_time


def _close(
    report: GenerateReport, pending: _PendingLabels | None, swipes: SwipePublisher, labels: LabelPublisher
) -> None:
    """Publish the labels still `pending` (None: leave them), wait for every delivery, count the failures."""
    if pending is not None:
        pending.release(None)
    swipes.flush()
    labels.flush()
    report.delivery_errors = swipes.failed + labels.failed
    report.last_error = swipes.last_error or labels.last_error


def generate(
    settings: StackSettings,
    rate: float = 0.0,
    count: int | None = None,
    duration_s: float | None = None,
    cards: int = 10_000,
    scenarios: Sequence[str] = (),
    seed: int | None = None,
    *,
    start: datetime | None = None,
    wallclock: bool = False,
    scenario_instances: int = 1,
    label_delay: LabelDelay = CHARGEBACKS,
    flush_labels: bool = True,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    swipe_publisher: SwipePublisher | None = None,
    label_publisher: LabelPublisher | None = None,
) -> GenerateReport:
    """Publish background traffic mixed with fraud scenarios to the swipes topic, labels to the labels topic.

    rate: swipes per second of wall time (0 = as fast as possible). Stops after `count` swipes or
    `duration_s` seconds. Event times are simulated from `start` (default: the current hour), so the
    same seed and start give the same swipes; without a seed each run draws a new one (reported),
    so two runs never publish the same swipe ids. `wallclock=True` stamps each swipe with the time it
    is sent instead. Labels are published once the stream's event time passes their
    `publish_at`; with `flush_labels` the ones still pending at the end are published too.
    """
    if (count is None) == (duration_s is None):
        raise ValueError("give exactly one of count or duration_s")
    if rate < 0:
        raise ValueError(f"rate must be >= 0 (0 = as fast as possible), got {rate}")
    if seed is None:
        seed = fresh_seed()
    if start is None:
        start = now().replace(minute=0, second=0, microsecond=0)
    pop, plan, traffic_rng, label_rng = _plan(
        settings, rate, count, duration_s, cards, scenarios, seed, start, scenario_instances
    )
    swipes = swipe_publisher or SwipePublisher(settings.bootstrap, settings.topic_swipes)
    labels = label_publisher or LabelPublisher(settings.bootstrap, settings.topic_labels)
    report = GenerateReport(
        planned_fraud=Counter(ls.scenario for ls in plan.swipes if ls.is_fraud), seed=seed
    )
    pending = _PendingLabels(labels, report)
    stolen = _thefts(plan.swipes)
    t0 = clock()
    for planned_swipe, scenario_swipe in _mixed(background(pop, start, traffic_rng), plan.swipes):
        if stolen and scenario_swipe is None and _owner_lost(stolen, planned_swipe):
            continue
        if count is not None and report.swipes >= count:
            break
        elapsed = _pace(report.swipes, rate, t0, clock, sleep)
        if duration_s is not None and elapsed >= duration_s:
            break
        swipe = replace_time(planned_swipe, now()) if wallclock else planned_swipe
        pending.release(swipe.event_time)
        swipes.publish(swipe)
        report.swipes += 1
        labeled = _labeled(swipe, planned_swipe, scenario_swipe, plan)
        if labeled is not None:
            pending.hold(labeled, label_rng, label_delay)
        _count(report, swipe, labeled)
        if progress is not None and report.swipes % 1000 == 0:
            progress(report.swipes, elapsed)
    _close(report, pending if flush_labels else None, swipes, labels)
    report.elapsed_s = clock() - t0
    if progress is not None:
        progress(report.swipes, report.elapsed_s)
    return report


def replace_time(swipe: Swipe, at: datetime) -> Swipe:
    return swipe.model_copy(update={"event_time": at.astimezone(UTC)})


def _mixed(
    traffic: Iterator[Swipe], planned: list[LabeledSwipe]
) -> Iterator[tuple[Swipe, LabeledSwipe | None]]:
    """Background and scenario swipes merged by event time (both already in order); scenario first on ties."""
    k, n = 0, len(planned)
    for swipe in traffic:
        t = swipe.event_time
        while k < n and planned[k].swipe.event_time <= t:
            yield planned[k].swipe, planned[k]
            k += 1
        yield swipe, None
    for ls in planned[k:]:
        yield ls.swipe, ls


def run_generate(
    settings: StackSettings,
    rate: float = 0.0,
    count: int | None = None,
    duration_s: float | None = None,
    cards: int = 10_000,
    scenarios: Sequence[str] = (),
    seed: int | None = None,
    *,
    wallclock: bool = False,
    console: Console | None = None,
) -> GenerateReport:
    """`fraudstream generate`: check Kafka, publish with a progress bar, print a summary table."""
    console = console or Console()
    check_reachable(settings.bootstrap)
    ensure_topics(
        settings.bootstrap,
        [settings.topic_swipes, settings.topic_labels],
        partitions=settings.topic_partitions,
    )
    total = float(count) if count is not None else float(duration_s or 0)
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with RichProgress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("generating swipes" if count else "generating (seconds)", total=total)

        def on_progress(sent: int, elapsed: float) -> None:
            bar.update(task, completed=sent if count is not None else min(elapsed, total))

        report = generate(
            settings,
            rate,
            count,
            duration_s,
            cards,
            scenarios,
            seed,
            wallclock=wallclock,
            progress=on_progress,
        )
    console.print(report_table(report))
    return report


def report_table(report: GenerateReport) -> Table:
    table = Table(
        title=f"generated {report.swipes:,} swipes in {report.elapsed_s:.1f} s ({report.rate:,.0f}/s)",
        caption=None
        if report.seed is None
        else f"seed {report.seed}: --seed {report.seed} publishes the same",
    )
    table.add_column("kind")
    table.add_column("swipes", justify="right")
    table.add_column("planned fraud", justify="right")
    for kind in sorted(set(report.by_kind) | set(report.planned_fraud)):
        planned = report.planned_fraud.get(kind)
        table.add_row(kind, f"{report.by_kind.get(kind, 0):,}", "" if planned is None else f"{planned:,}")
    table.add_row("labels published", f"{report.labels:,}", "")
    table.add_row("delivery errors", str(report.delivery_errors), report.last_error or "")
    return table
