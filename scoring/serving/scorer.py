"""One swipe in, one decision out: wires the table, lag cover, rules, model and publishing together.

No HTTP here; `scoring.serving.app` is the FastAPI edge around `Scorer.score`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from scoring.serving.decision import Decision, Degraded, decide
from scoring.serving.drift import LiveScores
from scoring.serving.merchant_inputs import merchant_inputs
from scoring.serving.metrics import ScorerMetrics
from scoring.serving.model import ModelArtifact, input_names, model_inputs
from scoring.serving.online import OnlineFeatureTable, OnlineMerchantTable
from scoring.serving.reload import WatchedFile
from scoring.serving.request_features import DecidedSwipe, LagCover, request_features, stale
from scoring.serving.reviews import ReviewQueue, flags_review, open_case
from scoring.serving.rules import ContextValue, RuleSet, context_names, load_rules, rule_context
from scoring.serving.settings import ScorerSettings
from scoring.serving.shadow import Challenger
from streaming.decision_record import DecisionRecord, ScoreResponse, ShadowOut
from streaming.schema import Swipe, SwipeDetails, to_kafka

log = logging.getLogger("fraudstream.scoring")

# Work to run once the response is on its way (the challenger and the decision record); None: none.
AfterResponse = Callable[[], None] | None

_SWIPE_DETAILS = set(SwipeDetails.model_fields)


def decided_swipe_value(swipe: SwipeDetails, card_token: str, decision: Literal["approve", "deny"]) -> bytes:
    """`to_kafka(Swipe(**swipe fields, card_token=card_token, decision=decision))`, byte for byte.

    The swipe was validated on arrival and the token is ours, so instead of validating them all
    again into a Swipe (~15 µs a request), the swipe's own JSON gets the two fields appended
    (~5 µs). Neither needs escaping: a token is `ct_` + hex, a decision a fixed word. A Swipe is
    SwipeDetails then these two fields; tests/unit/scoring/serving/test_scorer.py holds it to that.
    """
    details = swipe.model_dump_json(include=_SWIPE_DETAILS)
    return f'{details[:-1]},"card_token":"{card_token}","decision":"{decision}"}}'.encode()


class Producer(Protocol):
    """The part of confluent_kafka.Producer the scorer uses."""

    def produce(
        self, topic: str, value: bytes, key: bytes, on_delivery: Callable[[Any, Any], None]
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...


class Follower(Protocol):
    @property
    def ready(self) -> bool: ...

    @property
    def lag(self) -> int: ...

    malformed: int


class Scorer:
    def __init__(
        self,
        settings: ScorerSettings,
        table: OnlineFeatureTable,
        metrics: ScorerMetrics,
        clock: Callable[[], datetime],
        *,
        merchants: OnlineMerchantTable | None = None,
        follower: Follower | None = None,
        producer: Producer | None = None,
        reviews: ReviewQueue | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.feature_config
        # A property that scans the grains (~12 µs): read once, not per request.
        self.retention_s = self.config.retention_s
        self.table = table
        self.merchants = merchants if merchants is not None else OnlineMerchantTable()
        self.merchant_config = settings.merchant_config
        self.metrics = metrics
        self.clock = clock
        self.follower = follower
        self.producer = producer
        self.reviews = reviews if reviews is not None else ReviewQueue()
        self.lag_cover = LagCover(settings.lag_cover_swipes_per_card, settings.lag_cover_cards)
        known = context_names(self.config)
        self.rules: WatchedFile[RuleSet] = WatchedFile(
            settings.rules_path,
            lambda p: load_rules(p, known),
            check_interval_s=settings.reload_check_s,
            what="rules",
        )
        self.model: WatchedFile[ModelArtifact] = WatchedFile(
            settings.resolved_model_path,
            self._load_model,
            check_interval_s=settings.reload_check_s,
            what="model",
        )
        self.challenger = Challenger.of(
            settings.shadow_model_path,
            settings.shadow_rules_path,
            self._load_model,
            known,
            settings.reload_check_s,
        )
        self.live_scores = LiveScores(settings.psi_window)
        self._scored_by: str | None = None  # the model whose scores live_scores holds
        self.rules.current()
        metrics.serving(m.version if (m := self.model.current()) else None)
        if self.challenger is not None:
            shadow = self.challenger.current_model(None)
            metrics.serving(shadow.version if shadow else None, role="challenger")

    def _load_model(self, path: Path) -> ModelArtifact:
        artifact = ModelArtifact.load(path)
        fields = self.settings.swipe_fields
        absent = artifact.missing_fields(set(fields))
        if absent:
            raise ValueError(
                f"model {artifact.version} reads swipe fields {absent} that this scorer's swipes lack "
                f"(FRAUDSTREAM_SWIPE_FIELDS={list(fields)}); retrain it on data without them "
                "(`fraudstream train` leaves out what the data lacks) or add them to FRAUDSTREAM_SWIPE_FIELDS"
            )
        missing = artifact.missing_inputs(set(input_names(self.config, self.merchant_config, fields)))
        if missing:
            raise ValueError(
                f"model {artifact.version} needs inputs {missing} that horizons {self.config.horizons_s} and "
                f"merchant fraud horizons {self.merchant_config.fraud_horizons_s} do not produce; retrain it "
                "or set FRAUDSTREAM_HORIZONS_S / FRAUDSTREAM_MERCHANT_FRAUD_HORIZONS_S to the training ones"
            )
        return artifact

    def score(self, swipe: SwipeDetails, card_token: str, *, explain: bool = False) -> ScoreResponse:
        """Decide one swipe and do the after-response work at once (tests, benchmarks, no HTTP)."""
        response, after = self.decide(swipe, card_token, explain=explain)
        if after is not None:
            after()
        return response

    def decide(
        self, swipe: SwipeDetails, card_token: str, *, explain: bool = False
    ) -> tuple[ScoreResponse, AfterResponse]:
        """The response, and the work to run after sending it: the challenger, then its record.

        Without a challenger everything is published here and the work is None.
        """
        started = time.perf_counter()
        now_dt = self.clock()
        now = now_dt.timestamp()
        features = self.table.get(card_token)
        as_of = features.as_of.timestamp() if features is not None else None
        pending = self.lag_cover.pending(card_token, as_of, self.retention_s)
        is_stale = features is not None and stale(pending, now, self.settings.stale_after_s)
        usable = None if is_stale else features
        rf = request_features(swipe, usable, pending, self.config)
        inputs = model_inputs(usable, rf)
        rules = self.rules.current()
        model = self.model.current()
        if model is not None and model.reads_merchant:
            inputs.update(merchant_inputs(self.merchants.get(swipe.merchant_id), self.merchant_config))
        self.metrics.serving(model.version if model else None)
        degraded = Degraded(
            features_missing=features is None,
            features_stale=is_stale,
            features_catching_up=self.follower is not None and not self.follower.ready,
            model_error=self.model.error,
            rules_error=self.rules.error if rules is None else None,
        )
        context = rule_context(inputs, rf, swipe, card_token)
        decision = decide(
            inputs,
            context,
            model,
            rules,
            degraded=degraded,
            fail_open=self.settings.fail_open,
            threshold=self.settings.deny_threshold,
        )
        first_time = self.lag_cover.record(
            card_token, DecidedSwipe.of(swipe, denied=decision.decision == "deny", decided_at=now)
        )
        age_s = now - features.computed_at.timestamp() if features is not None else None
        response = self._response(swipe, card_token, decision, model, features, age_s, inputs, explain)
        # A retried request is decided again, but its swipe is on `swipes` once: the tiles count
        # every swipe they are given.
        challenger = self.challenger
        self._publish(
            swipe, card_token, response, inputs, now_dt, swipe_too=first_time, record=challenger is None
        )
        flagged = flags_review((r.code, r.value) for r in decision.reasons)
        if flagged:
            self._open_review(swipe, card_token, response, inputs, now_dt)
        self._observe(decision, model, age_s, time.perf_counter() - started, flagged)
        if decision.decision == "deny":
            log.info(
                "denied",
                extra={
                    "swipe_id": swipe.swipe_id,
                    "card_token": card_token,
                    "reasons": [r.code for r in decision.reasons],
                },
            )
        if challenger is None:
            return response, None

        return response, self._shadow_work(
            challenger, swipe, card_token, response, inputs, context, model, rules, degraded, now_dt
        )

    def _shadow_work(
        self,
        challenger: Challenger,
        swipe: SwipeDetails,
        card_token: str,
        response: ScoreResponse,
        inputs: dict[str, float],
        context: dict[str, ContextValue],
        model: ModelArtifact | None,
        rules: RuleSet | None,
        degraded: Degraded,
        now: datetime,
    ) -> Callable[[], None]:
        """What runs after the response: the challenger on the champion's inputs, then the record."""

        def shadow_then_record() -> None:
            shadow_inputs = inputs
            shadow_model = challenger.current_model(model)
            champion_reads = model is not None and model.reads_merchant
            if shadow_model is not None and shadow_model.reads_merchant and not champion_reads:
                found = self.merchants.get(swipe.merchant_id)
                shadow_inputs = {**inputs, **merchant_inputs(found, self.merchant_config)}
            try:
                shadow: ShadowOut | None = challenger.decide(
                    shadow_inputs,
                    context,
                    model,
                    rules,
                    degraded=degraded,
                    fail_open=self.settings.fail_open,
                    threshold=self.settings.deny_threshold,
                )
            except Exception:
                log.exception("the challenger failed", extra={"swipe_id": swipe.swipe_id})
                shadow = None
            self.metrics.serving(shadow_model.version if shadow_model else None, role="challenger")
            self._publish(swipe, card_token, response, inputs, now, swipe_too=False, shadow=shadow)

        return shadow_then_record

    def _response(
        self,
        swipe: SwipeDetails,
        card_token: str,
        decision: Decision,
        model: ModelArtifact | None,
        features: Any,
        age_s: float | None,
        inputs: dict[str, float],
        explain: bool,
    ) -> ScoreResponse:
        # One validation pass, reasons included: cheaper than a ReasonOut(...) call per reason.
        return ScoreResponse.model_validate(
            {
                "swipe_id": swipe.swipe_id,
                "card_token": card_token,
                "decision": decision.decision,
                "score": decision.score,
                "threshold": decision.threshold,
                "reasons": [{"code": r.code, "detail": r.detail, "value": r.value} for r in decision.reasons],
                "model_version": model.version if model else None,
                "features_as_of": features.as_of if features is not None else None,
                "feature_age_ms": round(age_s * 1000) if age_s is not None else None,
                "degraded": decision.degraded,
                "inputs": inputs if explain else None,
            }
        )

    def score_psi(self) -> float:
        """The live scores' drift from the serving model's validation scores (read at scrape time)."""
        model = self.model.value
        shares = model.score_shares if model is not None and model.version == self._scored_by else None
        return self.live_scores.psi_against(shares, self.settings.psi_min_scores)

    def _observe(
        self,
        decision: Decision,
        model: ModelArtifact | None,
        age_s: float | None,
        elapsed_s: float,
        review_flagged: bool,
    ) -> None:
        m = self.metrics
        m.score_latency.observe(elapsed_s)
        m.count_decision(decision.decision, (r.code for r in decision.reasons))
        if review_flagged:
            m.review_flags.inc()
        if decision.score is not None and model is not None:
            if model.version != self._scored_by:  # a new model: its own scores from now on
                self.live_scores.clear()
                self._scored_by = model.version
            self.live_scores.add(decision.score)
            m.model_score.observe(decision.score)
        if age_s is not None:
            m.feature_age.observe(max(age_s, 0.0))

    def _publish(
        self,
        swipe: SwipeDetails,
        card_token: str,
        response: ScoreResponse,
        inputs: dict[str, float],
        now: datetime,
        swipe_too: bool = True,
        record: bool = True,
        shadow: ShadowOut | None = None,
    ) -> None:
        """Hand the decided swipe (unless `swipe_too` is False) and the decision record (unless
        `record` is False, with the challenger's `shadow` decision) to the producer; never raise."""
        if self.producer is None:
            return
        key = card_token.encode("ascii")
        out: list[tuple[str, bytes, bytes]] = []
        try:
            if self.settings.publish_swipes and swipe_too:
                value = decided_swipe_value(swipe, card_token, response.decision)
                out.append((self.settings.topic_swipes, value, key))
            # The response's validated values as they are (its reasons stay ReasonOut instances),
            # not dumped to dicts and validated again.
            if record:
                decided = DecisionRecord(
                    **{**response.__dict__, "inputs": inputs},
                    event_time=swipe.event_time,
                    decided_at=now,
                    shadow=shadow,
                )
                out.append((self.settings.topic_decisions, to_kafka(decided), key))
        except Exception:
            log.exception("could not build the records to publish", extra={"swipe_id": swipe.swipe_id})
            return
        self._produce(out, swipe.swipe_id)

    def _open_review(
        self,
        swipe: SwipeDetails,
        card_token: str,
        response: ScoreResponse,
        inputs: dict[str, float],
        now: datetime,
    ) -> None:
        """A review rule fired: the case goes to this replica's queue and, keyed by swipe id, to `reviews`."""
        try:
            # Only the swipe's own fields: a request's `pan` never reaches the case.
            fields = swipe.model_dump(include=_SWIPE_DETAILS)
            decided = Swipe(**fields, card_token=card_token, decision=response.decision)
            reasons = [(r.code, r.detail, r.value) for r in response.reasons]
            case = open_case(decided, response.score, response.model_version, reasons, inputs, now)
        except Exception:
            log.exception("could not build the review case", extra={"swipe_id": swipe.swipe_id})
            return
        self.reviews.upsert(case)
        if self.producer is not None:
            value = to_kafka(case)
            self._produce([(self.settings.topic_reviews, value, swipe.swipe_id.encode())], swipe.swipe_id)

    def _produce(self, out: list[tuple[str, bytes, bytes]], swipe_id: str) -> None:
        """Hand (topic, value, key) records to the producer, counting what it refuses; never raise."""
        assert self.producer is not None
        for topic, value, key in out:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=self._delivered)
            except Exception as exc:  # BufferError when the queue is full, KafkaException otherwise
                self.metrics.publish_failures.labels(topic=topic).inc()
                log.warning(
                    "could not publish", extra={"topic": topic, "swipe_id": swipe_id, "error": str(exc)}
                )
        try:
            self.producer.poll(0)
        except Exception as exc:
            log.warning("producer poll failed", extra={"error": str(exc)})

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            topic = msg.topic() if msg is not None else "unknown"
            self.metrics.publish_failures.labels(topic=topic).inc()
            log.warning("Kafka did not accept a record", extra={"topic": topic, "error": str(err)})
