"""deploy/k8s: every manifest parses, and images, ports, probes, selectors and settings agree."""

from __future__ import annotations

from typing import Any

import pytest

from scoring.serving.settings import ScorerSettings
from streaming.job import QUERY_PARTS
from streaming.settings import StreamSettings
from tests.unit.deploy.reference import (
    DEPLOY,
    PREFIX,
    assert_own_checkpoints,
    load_yaml,
    load_yaml_docs,
    scrape_targets,
    settings_from_env,
    unknown_settings,
)

K8S = DEPLOY / "k8s"
KUSTOMIZATION = load_yaml(K8S / "kustomization.yaml")
DOCS = [doc for name in KUSTOMIZATION["resources"] for doc in load_yaml_docs(K8S / name)]


def one(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in DOCS if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_specs() -> dict[str, dict[str, Any]]:
    """Pod specs of the Deployments and Jobs, by workload name."""
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in DOCS
        if d["kind"] in ("Deployment", "Job")
    }


def env_of(env_from: list[dict[str, Any]], env: list[dict[str, Any]]) -> dict[str, str]:
    """The environment a container gets: its ConfigMaps and Secrets, then its own `env` on top."""
    out: dict[str, str] = {}
    for source in env_from:
        if "configMapRef" in source:
            out |= one("ConfigMap", source["configMapRef"]["name"])["data"]
        else:
            out |= one("Secret", source["secretRef"]["name"])["stringData"]
    return out | {e["name"]: str(e["value"]) for e in env}


def scorer_container() -> dict[str, Any]:
    [container] = pod_specs()["fraudstream-scorer"]["containers"]
    return container


def scorer_settings() -> ScorerSettings:
    c = scorer_container()
    return settings_from_env(ScorerSettings, env_of(c["envFrom"], c["env"]))


# The feature job's drivers: one SparkApplication each.
JOB_APPS = sorted(d["metadata"]["name"] for d in DOCS if d["kind"] == "SparkApplication")


def job_settings(name: str) -> StreamSettings:
    driver = one("SparkApplication", name)["spec"]["driver"]
    return settings_from_env(StreamSettings, env_of(driver["envFrom"], driver["env"]))


def metrics_service(name: str) -> dict[str, Any]:
    """The one Service that selects this application's driver pod."""
    labels = one("SparkApplication", name)["spec"]["driver"]["labels"]
    [service] = [
        d for d in DOCS if d["kind"] == "Service" and d["spec"]["selector"].items() <= labels.items()
    ]
    return service


def test_every_manifest_is_in_the_kustomization_and_has_a_kind() -> None:
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert files == set(KUSTOMIZATION["resources"])
    for doc in DOCS:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc


def test_every_fraudstream_variable_is_a_setting() -> None:
    names = set(one("ConfigMap", "fraudstream-config")["data"]) | set(
        one("Secret", "fraudstream-secrets")["stringData"]
    )
    for spec in pod_specs().values():
        names |= {e["name"] for c in spec["containers"] for e in c.get("env", [])}
    for app in JOB_APPS:
        spark = one("SparkApplication", app)["spec"]
        names |= {e["name"] for role in ("driver", "executor") for e in spark[role].get("env", [])}
    assert any(n.startswith(PREFIX) for n in names)
    assert unknown_settings(names) == []


def test_secret_holds_placeholders_only() -> None:
    secret = one("Secret", "fraudstream-secrets")
    assert "data" not in secret
    assert set(secret["stringData"].values()) == {"REPLACE_ME"}
    assert "FRAUDSTREAM_TOKEN_KEY" in secret["stringData"]
    assert "FRAUDSTREAM_TOKEN_KEY" not in one("ConfigMap", "fraudstream-config")["data"]


def test_workloads_run_the_one_image_the_kustomization_pins() -> None:
    [pin] = KUSTOMIZATION["images"]
    compose = load_yaml(DEPLOY / "compose.yml")
    assert f"{pin['newName']}:{pin['newTag']}" == compose["services"]["scorer"]["image"]
    images = {c["image"] for spec in pod_specs().values() for c in spec["containers"]}
    images |= {one("SparkApplication", app)["spec"]["image"] for app in JOB_APPS}
    assert images == {pin["name"]}


def test_scorer_probes_and_service_reach_the_port_it_listens_on() -> None:
    settings = scorer_settings()
    assert settings.host == "0.0.0.0"
    container = scorer_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": settings.port}
    probes = {k: container[k]["httpGet"] for k in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["startupProbe"]["path"] == "/healthz", "/readyz waits for a model: not for startup"
    assert {p["port"] for p in probes.values()} == {"http"}
    service = one("Service", "fraudstream-scorer")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    labels = one("Deployment", "fraudstream-scorer")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_scorer_mounts_the_models_volume_where_it_looks_for_current_json() -> None:
    settings = scorer_settings()
    spec = pod_specs()["fraudstream-scorer"]
    mounts = {m["mountPath"]: m["name"] for m in scorer_container()["volumeMounts"]}
    assert str(settings.resolved_model_path.parent) in mounts
    volume = next(v for v in spec["volumes"] if v["name"] == mounts[str(settings.resolved_model_path.parent)])
    claim = volume["persistentVolumeClaim"]["claimName"]
    one("PersistentVolumeClaim", claim)
    [trainer] = pod_specs()["fraudstream-train"]["containers"]
    train_settings = settings_from_env(ScorerSettings, env_of(trainer["envFrom"], trainer.get("env", [])))
    assert train_settings.resolved_model_path == settings.resolved_model_path
    assert trainer["args"][:2] == ["fraudstream", "train"]
    assert {m["mountPath"] for m in trainer["volumeMounts"]} == {str(settings.resolved_model_path.parent)}


def test_hpa_and_pdb_target_the_scorer() -> None:
    hpa = one("HorizontalPodAutoscaler", "fraudstream-scorer")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fraudstream-scorer",
    }
    pdb = one("PodDisruptionBudget", "fraudstream-scorer")["spec"]
    labels = one("Deployment", "fraudstream-scorer")["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert hpa["minReplicas"] > pdb["maxUnavailable"], "a drain must leave a scorer serving"
    assert one("Deployment", "fraudstream-scorer")["spec"]["replicas"] >= hpa["minReplicas"]


@pytest.mark.parametrize("name", JOB_APPS)
def test_feature_job_runs_the_job_with_its_metrics_port_scraped(name: str) -> None:
    app = one("SparkApplication", name)
    spec = app["spec"]
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    assert spec["type"] == "Python" and spec["mode"] == "cluster"
    assert spec["mainApplicationFile"].endswith("/site-packages/streaming/job.py")
    assert "/opt/venv/lib/python3.11/" in spec["mainApplicationFile"]
    assert "ENV VIRTUAL_ENV=/opt/venv" in (DEPLOY / "Dockerfile").read_text()
    settings = job_settings(name)
    assert name == f"fraudstream-features-{settings.queries}", "the name streaming.job gives its session"
    assert settings.metrics_port > 0
    assert spec["driver"]["ports"] == [
        {"name": "metrics", "containerPort": settings.metrics_port, "protocol": "TCP"}
    ]
    service = metrics_service(name)
    assert not service["spec"]["selector"].items() <= spec["executor"]["labels"].items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["metrics"]
    # The ServiceMonitor copies this label onto the samples, as prometheus.yml labels its targets.
    assert service["metadata"]["labels"]["queries"] == settings.queries
    assert spec["driver"]["serviceAccount"] == one("ServiceAccount", "fraudstream-spark")["metadata"]["name"]
    assert settings.delta_path.startswith("s3a://") and settings.checkpoint_path.startswith("s3a://")
    assert spec["executor"]["envFrom"] == spec["driver"]["envFrom"], "executors need the s3a credentials too"


def test_the_job_runs_as_a_hot_and_a_history_application_that_split_the_queries() -> None:
    parts = {app: job_settings(app).queries for app in JOB_APPS}
    assert sorted(parts.values()) == sorted(set(QUERY_PARTS) - {"all"}), parts
    run = [query for part in parts.values() for query in QUERY_PARTS[part]]
    assert sorted(run) == sorted(QUERY_PARTS["all"]), "every query runs, and in one application only"
    hot, history = (next(a for a, part in parts.items() if part == p) for p in ("hot", "history"))
    assert job_settings(hot).trigger_s < job_settings(history).history_trigger_s
    executors = {a: one("SparkApplication", a)["spec"]["executor"] for a in JOB_APPS}
    cores = {a: e["instances"] * e["cores"] for a, e in executors.items()}
    assert cores[hot] > cores[history]
    # The history side's floor is its CPU request: the cores the kernel gives it however busy the
    # hot side is (what a nice level on one machine cannot promise).
    for app, executor in executors.items():
        assert float(executor["coreRequest"]) == executor["cores"], app
    # Each Service reaches its own driver only.
    for app in JOB_APPS:
        others = [one("SparkApplication", a)["spec"]["driver"]["labels"] for a in JOB_APPS if a != app]
        selector = metrics_service(app)["spec"]["selector"]
        assert not any(selector.items() <= labels.items() for labels in others), app


def test_no_two_applications_share_a_checkpoint() -> None:
    assert_own_checkpoints({app: job_settings(app) for app in JOB_APPS})


@pytest.mark.parametrize("name", JOB_APPS)
def test_scorer_and_job_share_windows_and_topics(name: str) -> None:
    scorer, job = scorer_settings(), job_settings(name)
    assert scorer.feature_config == job.feature_config
    assert (scorer.topic_tiles, scorer.topic_swipes) == (job.topic_tiles, job.topic_swipes)
    assert scorer.bootstrap == job.bootstrap and not job.embedded


@pytest.mark.parametrize(
    ("monitor", "services", "job"),
    [
        ("fraudstream-scorer", ["fraudstream-scorer"], "fraudstream-scorer"),
        (
            "fraudstream-feature-job",
            [metrics_service(app)["metadata"]["name"] for app in JOB_APPS],
            "fraudstream-feature-job",
        ),
    ],
)
def test_service_monitors_select_the_services_with_the_rules_job_names(
    monitor: str, services: list[str], job: str
) -> None:
    spec = one("ServiceMonitor", monitor)["spec"]
    selected = {
        d["metadata"]["name"]
        for d in DOCS
        if d["kind"] == "Service"
        and spec["selector"]["matchLabels"].items() <= d["metadata"]["labels"].items()
    }
    assert selected == set(services)
    for service in services:
        svc = one("Service", service)
        assert {e["port"] for e in spec["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
        assert svc["metadata"]["labels"][spec["jobLabel"]] == job
        assert set(spec.get("targetLabels", [])) <= set(svc["metadata"]["labels"])
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
    assert job in {c["job_name"] for c in scrape}


def test_both_stacks_label_the_job_drivers_alike() -> None:
    """The rules and dashboard see the same labels from compose's static targets and from k8s."""
    monitor = one("ServiceMonitor", "fraudstream-feature-job")["spec"]
    assert monitor["targetLabels"] == ["queries"]
    compose = sorted(labels["queries"] for labels in scrape_targets("fraudstream-feature-job").values())
    assert compose == sorted(job_settings(app).queries for app in JOB_APPS)
