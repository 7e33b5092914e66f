"""What the deploy/ files are checked against: the settings classes and the metrics the code exports."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import yaml
from prometheus_client import CollectorRegistry
from pydantic_settings import BaseSettings

from foundation.settings import StackSettings
from scoring.serving.metrics import ScorerMetrics
from scoring.serving.settings import ScorerSettings
from streaming.job_metrics import StreamMetrics
from streaming.settings import StreamSettings

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEPLOY = PROJECT_ROOT / "deploy"
PREFIX = "FRAUDSTREAM_"
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (StackSettings, StreamSettings, ScorerSettings)

S = TypeVar("S", bound=BaseSettings)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def scrape_targets(job: str) -> dict[str, dict[str, str]]:
    """The targets deploy/prometheus/prometheus.yml scrapes for `job`, each with its static labels."""
    [config] = [
        c
        for c in load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
        if c["job_name"] == job
    ]
    return {
        target: group.get("labels", {}) for group in config["static_configs"] for target in group["targets"]
    }


def setting_env_names(classes: Iterable[type[BaseSettings]] = SETTINGS_CLASSES) -> set[str]:
    """Every FRAUDSTREAM_* variable some settings class reads."""
    return {PREFIX + name.upper() for cls in classes for name in cls.model_fields}


def unknown_settings(env: Iterable[str]) -> list[str]:
    known = setting_env_names()
    return sorted(name for name in env if name.startswith(PREFIX) and name not in known)


_COMPOSE_VAR = re.compile(r"\$\{(?P<name>\w+)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def compose_value(value: object) -> str:
    """A compose value as the container sees it: `${X:-d}` -> d; a required `${X:?msg}` -> a placeholder."""
    return _COMPOSE_VAR.sub(lambda m: m["arg"] if m["op"] == "-" else "REPLACE_ME", str(value))


def settings_from_env(cls: type[S], env: Mapping[str, object]) -> S:
    """Build a settings class from exactly these variables, as the process would (no .env, no host env)."""
    with mock.patch.dict(os.environ, {k: str(v) for k, v in env.items()}, clear=True):
        return cls(_env_file=None)


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported_metric_names() -> set[str]:
    """The sample names the scorer and the job expose, from the metric classes on a fresh registry."""
    registry = CollectorRegistry()
    ScorerMetrics(registry)
    StreamMetrics(registry)
    return {family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]}


def recorded_names() -> set[str]:
    rules = load_yaml(DEPLOY / "prometheus" / "rules.yml")
    return {rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule}


_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
_KEYWORDS |= {"offset", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords or labels."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", text):
        name, call = match.groups()
        if not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def assert_own_checkpoints(drivers: Mapping[str, StreamSettings]) -> None:
    """The feature job's drivers, by name: no two share a checkpoint, together they run every query
    once, and they read and write one stack (one Delta root, written by the history driver alone)."""
    from streaming.job import QUERY_PARTS, query_checkpoints

    owners: dict[str, str] = {}
    for name, job in drivers.items():
        for query, location in query_checkpoints(job).items():
            assert location not in owners, f"{name} {query} and {owners[location]} share {location}"
            owners[location] = f"{name} {query}"
    assert len(owners) == len(QUERY_PARTS["all"])
    assert len({job.delta_path for job in drivers.values()}) == 1
