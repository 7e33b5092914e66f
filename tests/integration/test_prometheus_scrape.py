"""A real Prometheus server scrapes a running scorer and the feature job's exporter, with our rules loaded."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry, start_http_server
from pyspark.sql import SparkSession

from foundation.card_tokens import tokenize_pan
from streaming.history import QUERY_HISTORY, start_history
from streaming.job_metrics import ProgressExporter, StreamMetrics
from streaming.settings import StreamSettings
from tests.eventually import assert_eventually
from tests.integration._processes import process_group, tail
from tests.integration._stream_support import card, produce, swipe
from tests.integration.ports import free_port
from tests.unit.deploy.reference import DEPLOY, promql_metric_names
from tests.unit.scoring.builders import T0, tile_messages

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN_KEY = "prometheus-scrape-test-key"
PAN = "4111111111111111"
P99 = "histogram_quantile(0.99, sum by (le) (rate(fraudstream_score_latency_seconds_bucket[1m])))"


def _get(url: str, **params: str) -> httpx.Response:
    try:
        return httpx.get(url, params=params, timeout=5)
    except httpx.TransportError as exc:
        raise AssertionError(f"{url} does not answer yet: {exc}") from exc


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    body = _get(f"{prometheus}/api/v1/query", query=expr).json()
    assert body["status"] == "success", f"{expr}: {body}"
    return list(body["data"]["result"])


@pytest.fixture
def scorer(kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path) -> Iterator[str]:
    """`python -m scoring` on a free port, following a fresh features topic that holds one card."""
    features_topic = topic_factory("card-tiles", compacted=True)
    token = tokenize_pan(PAN, TOKEN_KEY.encode())
    now = datetime.now(UTC)
    computed = (now - T0).total_seconds() - 30  # the card's tiles, written by the job 30 s ago
    upstream = Producer({"bootstrap.servers": kafka_bootstrap})
    for key, value in tile_messages(token, [computed]):
        upstream.produce(features_topic, key=key, value=value, timestamp=int(now.timestamp() * 1000) - 30_000)
    assert upstream.flush(30) == 0
    port = free_port()
    env = {
        **os.environ,
        "FRAUDSTREAM_PORT": str(port),
        "FRAUDSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "FRAUDSTREAM_STATE_DIR": str(tmp_path / "scorer-state"),
        "FRAUDSTREAM_TOPIC_TILES": features_topic,
        "FRAUDSTREAM_TOPIC_SWIPES": topic_factory("swipes"),
        "FRAUDSTREAM_TOPIC_DECISIONS": topic_factory("decisions"),
        "FRAUDSTREAM_TOKEN_KEY": TOKEN_KEY,
        "FRAUDSTREAM_HORIZONS_S": "[600,3600]",
    }
    log = tmp_path / "scorer.log"
    url = f"http://127.0.0.1:{port}"
    with process_group([sys.executable, "-m", "scoring"], env, log) as proc:

        def caught_up() -> None:
            assert proc.poll() is None, f"the scorer exited: {tail(log)}"
            # No model in this test: /readyz stays 503 on the model, but reports the features.
            assert _get(f"{url}/readyz").json()["cards"] == 1

        assert_eventually(caught_up, timeout=60)
        yield url


@pytest.fixture
def job_exporter(
    spark: SparkSession, kafka_bootstrap: str, topic_factory: Callable[..., str], tmp_path: Path
) -> Iterator[str]:
    """The job's history query (swipes -> Delta, invalid ones -> dead_letters) with its metrics exporter."""
    settings = StreamSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap=kafka_bootstrap,
        topic_swipes=topic_factory("swipes"),
        topic_labels=topic_factory("labels"),
        topic_decisions=topic_factory("decisions"),
        delta_root=str(tmp_path / "delta"),
        checkpoint_root=str(tmp_path / "checkpoints"),
        trigger_s=0.5,
        history_trigger_s=0.5,
    )
    registry = CollectorRegistry()
    metrics = StreamMetrics(registry)
    listener = ProgressExporter(metrics)
    spark.streams.addListener(listener)
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    query = start_history(spark, settings, metrics.dead_letters.labels(QUERY_HISTORY).inc)
    try:
        produce(kafka_bootstrap, settings.topic_swipes, [swipe("s-1", card(1), 0), b"{not a swipe"])
        yield f"127.0.0.1:{port}"
    finally:
        query.stop()
        spark.streams.removeListener(listener)
        server.shutdown()


@pytest.fixture
def prometheus(scorer: str, job_exporter: str, tmp_path: Path) -> Iterator[str]:
    """The real Prometheus binary, scraping both every second, with deploy/prometheus/rules.yml loaded."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: `make prometheus` (or apt-get install prometheus) installs it"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus" / "rules.yml")],
        "scrape_configs": [
            {"job_name": "fraudstream-scorer", "static_configs": [{"targets": [scorer.split("//")[1]]}]},
            {"job_name": "fraudstream-feature-job", "static_configs": [{"targets": [job_exporter]}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    cmd = [
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "prometheus.log"
    with process_group(cmd, dict(os.environ), log) as proc:

        def ready() -> None:
            assert proc.poll() is None, f"prometheus exited: {tail(log)}"
            assert _get(f"{url}/-/ready").status_code == 200

        assert_eventually(ready, timeout=30)
        yield url


def _score(scorer: str, n: int) -> list[str]:
    decisions = []
    with httpx.Client(base_url=scorer, timeout=10) as client:
        for i in range(n):
            body = {
                "swipe_id": f"sw-{uuid.uuid4().hex[:10]}",
                "amount": 20.0 + i,
                "currency": "EUR",
                "merchant_id": "m1",
                "mcc": "5411",
                "country": "FR",
                "lat": 48.8566,
                "lon": 2.3522,
                "event_time": (datetime.now(UTC) - timedelta(seconds=n - i)).isoformat(),
                "pan": PAN,
            }
            r = client.post("/v1/score", json=body)
            assert r.status_code == 200, r.text
            decisions.append(r.json()["decision"])
    return decisions


def test_prometheus_scrapes_the_scorer_and_the_job(prometheus: str, scorer: str) -> None:
    def targets_up() -> None:
        up = {r["metric"]["job"]: r["value"][1] for r in _query(prometheus, "up")}
        assert up == {"fraudstream-scorer": "1", "fraudstream-feature-job": "1"}
        # A scrape before the first decision: rate() needs the counters to move between two scrapes.
        assert [r["value"][1] for r in _query(prometheus, "fraudstream_score_latency_seconds_count")] == ["0"]

    assert_eventually(targets_up, timeout=30)
    decisions = _score(scorer, 40)
    assert set(decisions) <= {"approve", "deny"} and len(decisions) == 40

    def p99() -> float:
        result = _query(prometheus, P99)
        assert result, "no latency samples scraped yet"
        value = float(result[0]["value"][1])
        assert not math.isnan(value), "p99 is NaN: fewer than two scrapes since the requests"
        return value

    value = assert_eventually(p99, timeout=30)
    assert 0 < value < 1, f"p99 decision latency {value}s"

    def decisions_counted() -> None:
        counted = {
            r["metric"]["decision"]: float(r["value"][1])
            for r in _query(prometheus, "fraudstream_decisions_total")
        }
        assert sum(counted.values()) == 40, counted

    assert_eventually(decisions_counted, timeout=30)
    # The card had features computed 30 s before: the age histogram saw all 40 decisions.
    ages = _query(prometheus, "fraudstream_feature_age_seconds_count")
    assert [float(r["value"][1]) for r in ages] == [40.0]

    def job_progress_scraped() -> None:
        dead = _query(prometheus, "fraudstream_stream_dead_letters_total")
        assert [float(r["value"][1]) for r in dead] == [1.0], "the one invalid swipe, as a dead letter"
        batches = _query(prometheus, 'fraudstream_stream_batches_total{query="history"}')
        assert batches and float(batches[0]["value"][1]) >= 1

    assert_eventually(job_progress_scraped, timeout=60)

    def deny_share_recorded() -> None:
        # The model watch's recording rule over the same 40 decisions: both decision series were
        # scraped at 0 before them (exported from the start), so rate() sees every one.
        recorded = _query(prometheus, "fraudstream:deny_ratio:rate10m")
        assert [float(r["value"][1]) for r in recorded] == [pytest.approx(decisions.count("deny") / 40)]

    assert_eventually(deny_share_recorded, timeout=30)
    _rules_and_dashboard_run_on(prometheus)


def _rules_and_dashboard_run_on(prometheus: str) -> None:
    """The server loaded our rules without errors and evaluates every dashboard query."""
    groups = _get(f"{prometheus}/api/v1/rules").json()["data"]["groups"]
    alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert {"ScoringLatencySLOBurn", "FeatureFreshnessOverTarget", "DeadLettersRising"} <= alerts
    assert {"ModelScoreDrift", "DenyRateHigh", "ReviewRateHigh"} <= alerts
    assert all(r["health"] != "err" for g in groups for r in g["rules"])
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "fraudstream.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "1m")
            assert promql_metric_names(expr)
            _query(prometheus, expr)  # a parse or type error fails here
