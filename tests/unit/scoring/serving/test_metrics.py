"""Scorer metrics against a fresh registry, asserted with get_sample_value."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from scoring.serving.metrics import ScorerMetrics


def test_metrics_are_registered_on_the_registry_passed_in() -> None:
    registry = CollectorRegistry()
    m = ScorerMetrics(registry)
    m.score_latency.observe(0.0003)
    m.decisions.labels(decision="deny").inc()
    m.reasons.labels(reason="rule:impossible-travel").inc(2)
    m.feature_age.observe(4.0)
    m.watch(table_size=lambda: 42, consumer_lag=lambda: 7, malformed=lambda: 1)

    get = registry.get_sample_value
    assert get("fraudstream_score_latency_seconds_count") == 1
    assert get("fraudstream_score_latency_seconds_bucket", {"le": "0.00025"}) == 0
    assert get("fraudstream_score_latency_seconds_bucket", {"le": "0.0005"}) == 1
    assert get("fraudstream_decisions_total", {"decision": "deny"}) == 1
    assert get("fraudstream_decision_reasons_total", {"reason": "rule:impossible-travel"}) == 2
    assert get("fraudstream_feature_age_seconds_sum") == 4.0
    assert get("fraudstream_online_table_cards") == 42
    assert get("fraudstream_features_consumer_lag") == 7
    assert get("fraudstream_malformed_feature_records") == 1


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        # (role, version) calls in order -> the samples left, as (role, version)
        ([("champion", "v1")], {("champion", "v1")}),
        ([("champion", "v1"), ("champion", "v2")], {("champion", "v2")}),
        ([("champion", "v1"), ("champion", None)], set()),
        ([("champion", "v1"), ("challenger", "v2")], {("champion", "v1"), ("challenger", "v2")}),
        (
            [("champion", "v1"), ("challenger", "v2"), ("challenger", "v3"), ("champion", "v3")],
            {("champion", "v3"), ("challenger", "v3")},
        ),
        ([("challenger", "v2"), ("challenger", None), ("champion", "v1")], {("champion", "v1")}),
    ],
)
def test_model_info_shows_the_champion_and_challenger_versions_loaded(
    calls: list[tuple[str, str | None]], expected: set[tuple[str, str]]
) -> None:
    registry = CollectorRegistry()
    m = ScorerMetrics(registry)
    for role, version in calls:
        m.serving(version, role=role)
    samples = {
        (s.labels["role"], s.labels["version"])
        for metric in registry.collect()
        if metric.name == "fraudstream_model_info"
        for s in metric.samples
        if s.value == 1
    }
    assert samples == expected


def test_count_decision_counts_each_decision_and_reason_every_time() -> None:
    registry = CollectorRegistry()
    m = ScorerMetrics(registry)
    m.count_decision("deny", ["model_score", "feature:amount_z"])
    m.count_decision("deny", ["model_score"])
    m.count_decision("approve", ["model_score", "features_missing"])

    get = registry.get_sample_value
    assert get("fraudstream_decisions_total", {"decision": "deny"}) == 2
    assert get("fraudstream_decisions_total", {"decision": "approve"}) == 1
    assert get("fraudstream_decision_reasons_total", {"reason": "model_score"}) == 3
    assert get("fraudstream_decision_reasons_total", {"reason": "feature:amount_z"}) == 1
    assert get("fraudstream_decision_reasons_total", {"reason": "features_missing"}) == 1


def test_both_decisions_are_exported_at_zero_before_the_first_one() -> None:
    registry = CollectorRegistry()
    m = ScorerMetrics(registry)
    get = registry.get_sample_value
    assert get("fraudstream_decisions_total", {"decision": "deny"}) == 0
    assert get("fraudstream_decisions_total", {"decision": "approve"}) == 0
    m.count_decision("deny", [])
    assert get("fraudstream_decisions_total", {"decision": "deny"}) == 1
