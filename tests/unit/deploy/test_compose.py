"""deploy/compose.yml sets only real settings, and its ports, topics and images agree with each other."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer.main

from foundation.settings import StackSettings
from scoring.serving.settings import ScorerSettings
from services.cli import app
from streaming.job import QUERY_PARTS
from streaming.settings import StreamSettings
from tests.unit.deploy.reference import (
    DEPLOY,
    PREFIX,
    assert_own_checkpoints,
    compose_value,
    load_yaml,
    scrape_targets,
    settings_from_env,
    unknown_settings,
)

COMPOSE = load_yaml(DEPLOY / "compose.yml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# Which settings class each fraudstream process builds at its entry point.
# The feature job's drivers: the services the image's `feature-job` role runs.
JOB_SERVICES = sorted(name for name, s in SERVICES.items() if s.get("command") == ["feature-job"])
SETTINGS_OF: dict[str, type[StackSettings]] = {
    "scorer": ScorerSettings,
    **dict.fromkeys(JOB_SERVICES, StreamSettings),
    "generator": StackSettings,
    "trainer": ScorerSettings,  # `fraudstream train` reads ScorerSettings for the model path
}


def env(service: str) -> dict[str, str]:
    return {k: compose_value(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def settings(service: str) -> Any:
    return settings_from_env(SETTINGS_OF[service], env(service))


def container_ports(service: str) -> set[int]:
    published = {int(str(p).split(":")[-1]) for p in SERVICES[service].get("ports", [])}
    return published | {int(p) for p in SERVICES[service].get("expose", [])}


def entrypoint_roles() -> set[str]:
    script = (DEPLOY / "docker" / "entrypoint.sh").read_text()
    return set(re.findall(r"^  ([a-z-]+)\)$", script, flags=re.MULTILINE))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_fraudstream_variable_is_a_setting(service: str) -> None:
    assert unknown_settings(env(service)) == []


@pytest.mark.parametrize("service", sorted(SETTINGS_OF))
def test_each_process_builds_its_settings_from_the_file(service: str) -> None:
    built = settings(service)
    assert not built.embedded, "no embedded broker in the compose stack"
    assert built.token_key.get_secret_value() == "REPLACE_ME", "the key must come from the shell, not git"


def test_bootstrap_names_the_three_brokers_on_their_advertised_listeners() -> None:
    brokers = {
        name: s["environment"]
        for name, s in SERVICES.items()
        if s.get("image", "").startswith("apache/kafka")
    }
    brokers = {name: e for name, e in brokers.items() if "KAFKA_NODE_ID" in e}
    assert len(brokers) == 3
    advertised = {e["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://") for e in brokers.values()}
    for service in SETTINGS_OF:
        assert set(settings(service).bootstrap.split(",")) == advertised
    voters = next(iter(brokers.values()))["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert sorted(v.split("@")[0] for v in voters.split(",")) == sorted(
        e["KAFKA_NODE_ID"] for e in brokers.values()
    )
    assert len({e["CLUSTER_ID"] for e in brokers.values()}) == 1


def test_topics_created_replicated_are_the_topics_the_processes_use() -> None:
    init = SERVICES["kafka-topics"]
    script = init["command"][0]
    topics = settings_from_env(StackSettings, env("kafka-topics"))
    for service in SETTINGS_OF:
        s = settings(service)
        assert (
            s.topic_swipes,
            s.topic_tiles,
            s.topic_merchant_features,
            s.topic_labels,
            s.topic_decisions,
        ) == (
            topics.topic_swipes,
            topics.topic_tiles,
            topics.topic_merchant_features,
            topics.topic_labels,
            topics.topic_decisions,
        )
    for var in ("SWIPES", "LABELS", "DECISIONS", "TILES", "MERCHANT_FEATURES"):
        assert f'--topic "$$FRAUDSTREAM_TOPIC_{var}"' in script
    assert "--replication-factor 3" in script
    assert re.search(
        r"\"\$\$FRAUDSTREAM_TOPIC_TILES\" --config cleanup\.policy=compact,delete"
        r" --config retention\.ms=2678400000",
        script,
    )
    assert re.search(r'TOPIC_MERCHANT_FEATURES" --config cleanup\.policy=compact', script)


def test_scorer_and_job_share_windows() -> None:
    scorer = settings("scorer")
    for service in JOB_SERVICES:
        assert scorer.feature_config == settings(service).feature_config, service


def spark_size(value: str) -> float:
    """A Spark memory size (2g, 512m) in GiB."""
    return float(value[:-1]) / (1024 if value[-1] == "m" else 1)


def test_the_job_runs_as_a_hot_and_a_history_driver_that_split_the_queries() -> None:
    parts = {service: settings(service).queries for service in JOB_SERVICES}
    # Each part of the job is run by exactly one service, and together they run every query once.
    assert sorted(parts.values()) == sorted(set(QUERY_PARTS) - {"all"}), parts
    run = [query for part in parts.values() for query in QUERY_PARTS[part]]
    assert sorted(run) == sorted(QUERY_PARTS["all"])
    hot, history = (next(s for s, part in parts.items() if part == p) for p in ("hot", "history"))
    # The freshness path: the short trigger and the most cores; the history side: the long trigger.
    assert settings(hot).trigger_s < settings(history).history_trigger_s
    cores = {s: int(env(s)["SPARK_CORES_MAX"]) for s in JOB_SERVICES}
    assert cores[hot] > cores[history] >= 1
    # The worker must hold both applications' executors at once, or the second one waits for cores.
    worker = env("spark-worker")
    assert int(worker["SPARK_WORKER_CORES"]) >= sum(cores.values())
    assert spark_size(worker["SPARK_WORKER_MEMORY"]) >= sum(
        spark_size(env(s)["SPARK_EXECUTOR_MEMORY"]) for s in JOB_SERVICES
    )


def test_no_two_job_drivers_share_a_checkpoint_and_one_writes_delta() -> None:
    assert_own_checkpoints({service: settings(service) for service in JOB_SERVICES})


@pytest.mark.parametrize("service", JOB_SERVICES)
def test_each_job_driver_is_reachable_by_its_executors_and_prometheus(service: str) -> None:
    job = settings(service)
    assert env(service)["SPARK_DRIVER_HOST"] == service, "executors connect back to the driver by this name"
    assert job.metrics_port in container_ports(service)
    targets = scrape_targets("fraudstream-feature-job")
    assert targets[f"{service}:{job.metrics_port}"] == {"queries": job.queries}


def test_scorer_port_matches_published_port_healthcheck_and_scrape_target() -> None:
    scorer = settings("scorer")
    assert scorer.host == "0.0.0.0", "listening on 127.0.0.1 inside a container is unreachable"
    assert scorer.port in container_ports("scorer")
    assert f"localhost:{scorer.port}/healthz" in " ".join(SERVICES["scorer"]["healthcheck"]["test"])
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
    targets = {c["job_name"]: c["static_configs"][0]["targets"] for c in scrape}
    assert targets["fraudstream-scorer"] == [f"scorer:{scorer.port}"]
    # Every job driver is a target, and nothing else is.
    assert set(scrape_targets("fraudstream-feature-job")) == {
        f"{s}:{settings(s).metrics_port}" for s in JOB_SERVICES
    }


@pytest.mark.parametrize("service", JOB_SERVICES)
def test_job_writes_delta_and_checkpoints_to_the_bucket_minio_creates(service: str) -> None:
    job = settings(service)
    bucket_cmd = SERVICES["minio-bucket"]["command"][0]
    bucket = re.search(r"mc mb --ignore-existing local/(\S+)", bucket_cmd)
    assert bucket
    for root in (job.delta_path, job.checkpoint_path):
        assert root.startswith(f"s3a://{bucket[1]}/")
    assert job.delta_path != job.checkpoint_path
    assert job.spark_master == "spark://spark-master:7077"
    assert env("spark-worker")["FRAUDSTREAM_SPARK_MASTER"] == job.spark_master
    assert env(service)["S3A_ENDPOINT"] == "http://minio:9000"


def test_fraudstream_services_run_one_image_with_known_commands() -> None:
    ours = {name: s for name, s in SERVICES.items() if s.get("image", "").startswith("fraudstream:")}
    assert set(ours) >= {"spark-master", "spark-worker", *JOB_SERVICES, "scorer", "generator", "trainer"}
    assert len(JOB_SERVICES) == 2
    assert len({s["image"] for s in ours.values()}) == 1
    assert {s["build"]["dockerfile"] for s in ours.values()} == {"deploy/Dockerfile"}
    assert (DEPLOY.parent / "deploy" / "Dockerfile").exists()
    cli = typer.main.get_command(app)
    roles = entrypoint_roles()
    for name, service in ours.items():
        command = service["command"]
        if command[0] == "fraudstream":
            sub = cli.commands[command[1]]  # type: ignore[attr-defined]
            options = {opt for p in sub.params for opt in p.opts}
            flags = [arg for arg in command[2:] if arg.startswith("--")]
            assert set(flags) <= options, f"{name}: {command}"
        else:
            assert command[0] in roles, f"{name}: the entrypoint has no {command[0]!r} role"
    assert ours["generator"]["command"][:3] == ["fraudstream", "generate", "--rate"]


def test_dockerfile_exposes_the_ports_and_bakes_the_settings_paths() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    exposed = {int(p) for p in re.search(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE)[1].split()}  # type: ignore[index]
    assert exposed == {settings("scorer").port} | {settings(s).metrics_port for s in JOB_SERVICES}
    baked = dict(re.findall(r"(FRAUDSTREAM_\w+)=(\S+)", dockerfile))
    assert unknown_settings(baked) == []
    assert baked["FRAUDSTREAM_JARS_DIR"] == "/opt/fraudstream/jars"
    assert "COPY deploy/jvm/pom.xml" in dockerfile


def test_no_secret_is_committed() -> None:
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"TOKEN|PASSWORD|SECRET|KEY", key) and not key.startswith("KAFKA_"):
                assert str(value).startswith("${"), f"{name}.{key} holds a literal secret"


def test_prefix_is_the_settings_prefix() -> None:
    assert StackSettings.model_config.get("env_prefix") == PREFIX
