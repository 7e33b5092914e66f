"""The Grafana dashboard plots only metrics the code exports, and covers what an operator needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.deploy.reference import (
    DEPLOY,
    exported_metric_names,
    load_yaml,
    promql_metric_names,
    recorded_names,
)

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "fraudstream.json"


def panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def exprs() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'histogram_quantile(0.9, sum by (le) (rate(fraudstream_feature_age_seconds_bucket{le="1"}[5m])))',
            {"fraudstream_feature_age_seconds_bucket"},
        ),
        ("sum(rate(a_total[$__rate_interval])) / on () group_left b", {"a_total", "b"}),
        ("max by (version) (fraudstream_model_info) or vector(0) > bool 1", {"fraudstream_model_info"}),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def test_every_expr_uses_only_exported_or_recorded_metrics() -> None:
    known = exported_metric_names() | recorded_names()
    unknown = {(title, name) for title, expr in exprs() for name in promql_metric_names(expr) - known}
    assert not unknown, f"dashboard panels query metrics nothing exports: {sorted(unknown)}"
    assert all(promql_metric_names(expr) for _, expr in exprs()), "a panel queries no metric at all"


def test_dashboard_covers_decisions_freshness_lag_and_the_job() -> None:
    used = {name for _, expr in exprs() for name in promql_metric_names(expr)}
    wanted = {
        "fraudstream_score_latency_seconds_bucket",
        "fraudstream_decisions_total",
        "fraudstream_decision_reasons_total",
        "fraudstream_feature_age_seconds_bucket",
        "fraudstream_features_consumer_lag",
        "fraudstream_stream_input_rows_per_second",
        "fraudstream_stream_processed_rows_per_second",
        "fraudstream_stream_batch_duration_seconds",
        "fraudstream_stream_state_rows",
        "fraudstream_stream_dead_letters_total",
    }
    assert wanted - used == set()
    latency = next(p for p in panels() if p["title"].startswith("Decision latency"))
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p95", "p99"]
    assert [t["expr"].split(" ")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
    ]


def test_panels_use_the_provisioned_datasource_and_do_not_overlap() -> None:
    provisioned = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    uid = provisioned["datasources"][0]["uid"]
    assert provisioned["datasources"][0]["url"] == "http://prometheus:9090"
    assert {p["datasource"]["uid"] for p in panels()} == {uid}
    assert {t["datasource"]["uid"] for p in panels() for t in p["targets"]} == {uid}
    cells: set[tuple[int, int]] = set()
    for p in panels():
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, f"{p['title']} runs off the grid"
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine


def test_dashboard_provider_points_where_compose_mounts_the_json() -> None:
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "fraudstream.yml")
    compose = load_yaml(DEPLOY / "compose.yml")
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_the_model_row_watches_scores_drift_rates_and_both_model_roles() -> None:
    rows = json.loads(DASHBOARD.read_text())["panels"]
    start = next(i for i, p in enumerate(rows) if p["type"] == "row" and p["title"] == "Model")
    end = next(i for i, p in enumerate(rows) if i > start and p["type"] == "row")
    used = {
        name for p in rows[start + 1 : end] for t in p["targets"] for name in promql_metric_names(t["expr"])
    }
    assert used == {
        "fraudstream_model_score_bucket",
        "fraudstream:deny_ratio:rate10m",
        "fraudstream:review_ratio:rate10m",
        "fraudstream_score_psi",
        "fraudstream_model_info",
    }
