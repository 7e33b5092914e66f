"""Prometheus metrics of the scorer, built against a registry that is passed in.

Process model: one scorer process runs one uvicorn worker (one async event loop, about one core),
and capacity comes from running several replicas behind the load balancer, each with its own
/metrics that Prometheus scrapes and sums. We do not use uvicorn's multi-worker mode, so
PROMETHEUS_MULTIPROC_DIR is not supported: every worker would need its own feature follower
(a full copy of the online table) anyway, which is exactly a replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
)
# Equal bins of the fraud score, the bins scoring.serving.drift holds the training distribution in.
SCORE_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
FEATURE_AGE_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)


class ScorerMetrics:
    """Everything the scorer exports. `table_size` and `consumer_lag` are read at scrape time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.score_latency = Histogram(
            "fraudstream_score_latency_seconds",
            "Time to decide one swipe, from parsed request to response (excludes HTTP parsing).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.decisions = Counter(
            "fraudstream_decisions", "Decisions made, by decision.", ["decision"], registry=registry
        )
        self.reasons = Counter(
            "fraudstream_decision_reasons",
            "Reasons attached to decisions (rule:<id>, feature:<name>, degraded modes).",
            ["reason"],
            registry=registry,
        )
        self.feature_age = Histogram(
            "fraudstream_feature_age_seconds",
            "Scorer wall clock minus the card features' computed_at, when the card had features.",
            buckets=FEATURE_AGE_BUCKETS,
            registry=registry,
        )
        self.table_cards = Gauge(
            "fraudstream_online_table_cards", "Cards in the online feature table.", registry=registry
        )
        self.consumer_lag = Gauge(
            "fraudstream_features_consumer_lag",
            "Feature records between the followers and their topics' high watermarks (cards and merchants).",
            registry=registry,
        )
        self.model_info = Gauge(
            "fraudstream_model_info",
            "The model versions loaded (value 1): role champion answers, role challenger is the shadow.",
            ["role", "version"],
            registry=registry,
        )
        self.publish_failures = Counter(
            "fraudstream_publish_failures",
            "Swipes or decision records that could not be handed to or delivered by Kafka.",
            ["topic"],
            registry=registry,
        )
        self.model_score = Histogram(
            "fraudstream_model_score",
            "The serving model's fraud score of each decided swipe.",
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.review_flags = Counter(
            "fraudstream_review_flags",
            "Decisions a review rule flagged for the case queue (whatever the decision).",
            registry=registry,
        )
        self.score_psi = Gauge(
            "fraudstream_score_psi",
            "Population stability index of the last FRAUDSTREAM_PSI_WINDOW scores against the serving "
            "model's validation scores; NaN without enough scores or a model without them.",
            registry=registry,
        )
        self.malformed_features = Gauge(
            "fraudstream_malformed_feature_records",
            "Feature records skipped because they did not parse (since start).",
            registry=registry,
        )
        self._model_versions: dict[str, str | None] = {}
        # `.labels(...)` checks and sorts its arguments on every call, several times the cost of
        # `.inc()`; the label values are a bounded vocabulary, so each child is looked up once.
        # (Nothing here ever removes a child of these two counters, so a cached one stays live.)
        self._decision_children: dict[str, Counter] = {}
        # Both decisions exported from the start at 0: a series that appears with its first deny
        # already counted hides that jump from rate(), and so from the deny-rate alert.
        for decision in ("approve", "deny"):
            self._decision_children[decision] = self.decisions.labels(decision=decision)
        self._reason_children: dict[str, Counter] = {}

    def watch(
        self,
        table_size: Callable[[], float],
        consumer_lag: Callable[[], float],
        malformed: Callable[[], float],
        score_psi: Callable[[], float] | None = None,
    ) -> None:
        if score_psi is not None:
            self.score_psi.set_function(score_psi)
        self.table_cards.set_function(table_size)
        self.consumer_lag.set_function(consumer_lag)
        self.malformed_features.set_function(malformed)

    def count_decision(self, decision: str, reasons: Iterable[str]) -> None:
        """One decision and each of its reason codes."""
        child = self._decision_children.get(decision)
        if child is None:
            child = self._decision_children[decision] = self.decisions.labels(decision=decision)
        child.inc()
        children = self._reason_children
        for code in reasons:
            reason = children.get(code)
            if reason is None:
                reason = children[code] = self.reasons.labels(reason=code)
            reason.inc()

    def serving(self, version: str | None, role: str = "champion") -> None:
        """The model `role` (champion or challenger) runs now; None: no model in that role."""
        if role in self._model_versions and version == self._model_versions[role]:
            return
        previous = self._model_versions.get(role)
        if previous is not None:
            self.model_info.remove(role, previous)
        if version is not None:
            self.model_info.labels(role=role, version=version).set(1)
        self._model_versions[role] = version
