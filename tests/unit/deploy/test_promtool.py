"""promtool accepts the Prometheus config and rules, and the rule unit tests fire each alert."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from streaming.job import QUERY_PARTS
from tests.unit.deploy.reference import (
    DEPLOY,
    exported_metric_names,
    load_yaml,
    promql_metric_names,
    scrape_targets,
)

PROMETHEUS = DEPLOY / "prometheus"
ALERTS = {
    "ScoringLatencySLOBurn",
    "FeatureFreshnessOverTarget",
    "FeaturesConsumerLagGrowing",
    "StreamBatchLongerThanTrigger",
    "DeadLettersRising",
    "ModelScoreDrift",
    "DenyRateHigh",
    "ReviewRateHigh",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not found: `make prometheus` (or apt-get install prometheus) installs it"
    return subprocess.run([binary, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


def rules() -> list[dict[str, str]]:
    return [rule for group in load_yaml(PROMETHEUS / "rules.yml")["groups"] for rule in group["rules"]]


@pytest.mark.integration
@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "rules.yml"),
        ("test", "rules", "rules_test.yml"),
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool_accepts(args: tuple[str, ...]) -> None:
    result = promtool(*args)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_has_a_firing_case_in_the_rule_tests() -> None:
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts >= ALERTS
    tests = load_yaml(PROMETHEUS / "rules_test.yml")["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts - fired == set(), "alerts no test makes fire"


def test_rules_select_only_exported_metrics() -> None:
    known = exported_metric_names() | {"up"} | {r["record"] for r in rules() if "record" in r}
    unknown = {name for rule in rules() for name in promql_metric_names(rule["expr"])} - known
    assert unknown == set()


def test_scrape_jobs_are_the_ones_the_rules_and_k8s_use() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    jobs = {c["job_name"]: c["static_configs"][0]["targets"] for c in config["scrape_configs"]}
    assert jobs["fraudstream-scorer"] == ["scorer:8000"]
    assert config["rule_files"] == ["rules.yml"]
    # A target per driver of the job, labelled with the part it runs: each part of the job once.
    drivers = scrape_targets("fraudstream-feature-job")
    assert drivers == {
        "feature-job-hot:9108": {"queries": "hot"},
        "feature-job-history:9108": {"queries": "history"},
    }
    assert sorted(labels["queries"] for labels in drivers.values()) == sorted(set(QUERY_PARTS) - {"all"})


def test_the_rule_tests_feed_each_job_alert_the_series_of_both_drivers() -> None:
    """An alert tested on one driver's series alone could hide a label it needs from the other."""
    tests = load_yaml(PROMETHEUS / "rules_test.yml")["tests"]
    for name in ("batch duration alert fires for the query whose batches outlast its trigger", "target down"):
        [test] = [t for t in tests if t["name"] == name]
        series = " ".join(s["series"] for s in test["input_series"])
        assert 'instance="feature-job-hot:9108",queries="hot"' in series, name
        assert 'instance="feature-job-history:9108",queries="history"' in series, name
