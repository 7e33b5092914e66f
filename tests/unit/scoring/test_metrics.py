"""Scorer metrics against a fresh registry, asserted with get_sample_value."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from scoring.metrics import ScorerMetrics


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


def test_model_info_shows_only_the_version_being_served() -> None:
    registry = CollectorRegistry()
    m = ScorerMetrics(registry)
    m.serving("v1")
    assert registry.get_sample_value("fraudstream_model_info", {"version": "v1"}) == 1
    m.serving("v2")
    assert registry.get_sample_value("fraudstream_model_info", {"version": "v1"}) is None
    assert registry.get_sample_value("fraudstream_model_info", {"version": "v2"}) == 1
    m.serving(None)
    assert registry.get_sample_value("fraudstream_model_info", {"version": "v2"}) is None


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
