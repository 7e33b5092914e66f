"""`fraudstream rules test` over a generated history in Delta (real Kafka, Spark and Delta).

Swipes, labels and decisions are published to Kafka, the history query writes the three Delta
tables, and the rule test reads them back. Its numbers are checked against a count made here
straight from the generated history, on rules whose inputs (amount, MCC) need no card features.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession

from scoring.serving.rules import context_names, load_rules
from services.backtest.rules_report import html_report, run_rule_test
from services.generator.history import labeled_history
from services.generator.population import PopulationConfig, build_population
from services.generator.scenarios import LabelDelay, labels_for
from streaming import job
from streaming.card_state import FeatureConfig
from streaming.decision_record import DecisionRecord
from streaming.history import start_history
from streaming.schema import Swipe, to_kafka
from streaming.settings import StreamSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 4
ROOT = Path(__file__).resolve().parents[2]
RISKY_MCCS = ("4829", "6051", "6211", "7995", "5732")
CANDIDATE = f"""
[[rule]]
id = "big-amount"
action = "deny"
when = [{{ input = "amount", op = ">", value = 150 }}]

[[rule]]
id = "risky-mcc"
action = "review"
when = [{{ input = "mcc", op = "in", value = {list(RISKY_MCCS)!r} }}]
"""


def record(swipe: Swipe, verdict: str, score: float, decided_at: datetime) -> DecisionRecord:
    return DecisionRecord(
        swipe_id=swipe.swipe_id,
        card_token=swipe.card_token,
        decision=verdict,  # type: ignore[arg-type]
        score=score,
        threshold=0.5,
        reasons=[],
        model_version="v1",
        features_as_of=None,
        feature_age_ms=None,
        degraded=False,
        event_time=swipe.event_time,
        decided_at=decided_at,
    )


def test_a_rule_test_over_delta_history_reports_what_an_independent_count_finds(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    settings = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_labels=topic_factory("labels"),
        topic_decisions=topic_factory("decisions"),
        delta_root=str(tmp_path / "delta"),
        checkpoint_root=str(tmp_path / "checkpoints"),
        history_trigger_s=0.5,
        metrics_port=0,
    )
    rng = np.random.default_rng(5)
    pop = build_population(rng, b"k" * 32, PopulationConfig(cards=80))
    history = labeled_history(pop, START, DAYS, rng, per_scenario=3)
    labels = [lb for lb, _ in labels_for(history, rng, LabelDelay(median_days=1.0))]
    since, until = START + timedelta(days=1), START + timedelta(days=DAYS)
    tested = sorted(
        (ls for ls in history if since <= ls.swipe.event_time < until), key=lambda ls: ls.swipe.swipe_id
    )

    # The scorer decided some swipes: every 10th denied by its model, every 10th + 5 approved, and
    # every 20th + 5 first denied then, on a retry, approved (the newest decision is the one given).
    decisions, model_denied, retried = [], set(), set()
    for i, ls in enumerate(tested):
        decided_at = ls.swipe.event_time + timedelta(milliseconds=5)
        if i % 10 == 0:
            decisions.append(record(ls.swipe, "deny", 0.9, decided_at))
            model_denied.add(ls.swipe.swipe_id)
        elif i % 10 == 5:
            if i % 20 == 5:
                decisions.append(record(ls.swipe, "deny", 0.8, decided_at))
                retried.add(ls.swipe.swipe_id)
            decisions.append(record(ls.swipe, "approve", 0.1, decided_at + timedelta(seconds=1)))
    assert model_denied and retried

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for ls in history:
        producer.produce(settings.topic_swipes, key=ls.swipe.card_token.encode(), value=to_kafka(ls.swipe))
    for label in labels:
        producer.produce(settings.topic_labels, key=label.card_token.encode(), value=to_kafka(label))
    for d in decisions:
        producer.produce(settings.topic_decisions, key=d.card_token.encode(), value=to_kafka(d))
    assert producer.flush(30) == 0

    job.ensure_tables(spark, settings)
    query = start_history(spark, settings)
    try:
        query.processAllAvailable()
        assert query.exception() is None, f"history failed: {query.exception()}"
    finally:
        job.stop([query])

    candidate = tmp_path / "candidate.toml"
    candidate.write_text(CANDIDATE, encoding="utf-8")
    config = FeatureConfig()
    rules = load_rules(candidate, context_names(config))
    result = run_rule_test(spark, settings, candidate, rules, config, since, until)
    r = result.result

    # The independent count, from the generated history and what was published.
    reported = {lb.swipe_id for lb in labels if lb.is_fraud and lb.reported_at <= until}
    assert len(reported) < sum(ls.is_fraud for ls in tested)  # some chargebacks came after `until`
    big = {ls.swipe.swipe_id for ls in tested if ls.swipe.amount > 150}
    risky = {ls.swipe.swipe_id for ls in tested if ls.swipe.mcc in RISKY_MCCS}
    ids = {ls.swipe.swipe_id for ls in tested}
    fraud = ids & reported
    denied_now = model_denied  # retried swipes were approved in the end; the rest went through
    assert big and risky and big & fraud

    def expected(matched: set[str]) -> tuple[int, int, int]:
        return len(matched), len(matched & fraud), len(matched - denied_now)

    by_rule = {c.rule_id: (c.matched, c.fraud, c.approved) for c in r.rules}
    assert by_rule == {"big-amount": expected(big), "risky-mcc": expected(risky)}
    assert (r.total.matched, r.total.fraud, r.total.approved) == expected(big | risky)
    assert (r.swipes, r.fraud, result.decisions) == (len(ids), len(fraud), len(decisions))
    # The candidate denies what its deny rule matches plus what the model denied; review changes nothing.
    denied_candidate = big | model_denied
    assert (r.denied_now, r.denied_candidate) == (len(denied_now), len(denied_candidate))
    assert r.fraud_caught_now == len(denied_now & fraud)
    assert r.fraud_caught_candidate == len(denied_candidate & fraud)
    assert r.fraud_caught_change > 0

    page = html_report(result)
    assert f"<td>big-amount</td><td>deny</td><td>{len(big):,}</td>" in page
    assert f"<td>denials</td><td>{len(denied_now):,}</td><td>{len(denied_candidate):,}</td>" in page

    # The command a user runs, in its own process and Spark, over the same tables: the same report.
    report = tmp_path / "rule-test.html"
    env = {
        **os.environ,
        "FRAUDSTREAM_DELTA_ROOT": settings.delta_path,
        "FRAUDSTREAM_SPARK_MASTER": "local[1]",
        "FRAUDSTREAM_HORIZONS_S": ",".join(str(h) for h in config.horizons_s),
    }
    args = ["rules", "test", str(candidate), "--since", f"{DAYS - 1}d", "--until", until.isoformat()]
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args, "--report", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "big-amount" in done.stdout and "report:" in done.stdout, done.stdout
    assert report.read_text(encoding="utf-8") == page
