"""The challenger: a shadow model and/or rules file, decided after the response, never answered.

    request --> champion decides --> response sent --> challenger decides the same inputs
                                                        --> decision record (champion + `shadow`)

The challenger swaps in what it has and keeps the champion's rest: a shadow model with the
champion's rules, shadow rules with the champion's model, or both. It runs on the inputs the
champion computed, so the two differ only by what is being tried. With a shadow model the model's
own threshold applies (FRAUDSTREAM_DENY_THRESHOLD is the champion's operating point).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from scoring.serving.decision import Degraded, decide
from scoring.serving.model import ModelArtifact
from scoring.serving.reload import WatchedFile
from scoring.serving.rules import ContextValue, RuleSet, load_rules
from streaming.decision_record import ShadowOut


class Challenger:
    """The shadow model and rules files, each re-read when it changes, like the champion's."""

    def __init__(
        self,
        model: WatchedFile[ModelArtifact] | None,
        rules: WatchedFile[RuleSet] | None,
    ) -> None:
        if model is None and rules is None:
            raise ValueError("a challenger needs a shadow model or shadow rules")
        self.model = model
        self.rules = rules

    @classmethod
    def of(
        cls,
        model_path: Path | None,
        rules_path: Path | None,
        load_model: Callable[[Path], ModelArtifact],
        known_inputs: set[str],
        check_interval_s: float,
    ) -> Challenger | None:
        """The challenger of these paths; None when neither is set (no shadow work at all)."""
        if model_path is None and rules_path is None:
            return None
        model = (
            WatchedFile(model_path, load_model, check_interval_s=check_interval_s, what="shadow model")
            if model_path is not None
            else None
        )
        rules = (
            WatchedFile(
                rules_path,
                lambda p: load_rules(p, known_inputs),
                check_interval_s=check_interval_s,
                what="shadow rules",
            )
            if rules_path is not None
            else None
        )
        return cls(model, rules)

    def current_model(self, champion: ModelArtifact | None) -> ModelArtifact | None:
        """The model the challenger scores with: its own, or the champion's when it has none."""
        return self.model.current() if self.model is not None else champion

    def decide(
        self,
        inputs: Mapping[str, float],
        context: Mapping[str, ContextValue],
        champion_model: ModelArtifact | None,
        champion_rules: RuleSet | None,
        *,
        degraded: Degraded,
        fail_open: bool,
        threshold: float | None,
    ) -> ShadowOut:
        """The challenger's decision on the champion's inputs. Pure but for the files' reload check."""
        model = self.current_model(champion_model)
        rules = self.rules.current() if self.rules is not None else champion_rules
        shadow_degraded = Degraded(
            degraded.features_missing,
            degraded.features_stale,
            degraded.features_catching_up,
            model_error=self.model.error if self.model is not None else degraded.model_error,
            rules_error=(self.rules.error if rules is None else None)
            if self.rules is not None
            else degraded.rules_error,
        )
        decision = decide(
            inputs,
            context,
            model,
            rules,
            degraded=shadow_degraded,
            fail_open=fail_open,
            threshold=None if self.model is not None else threshold,
        )
        return ShadowOut.model_validate(
            {
                "model_version": model.version if model is not None else None,
                "rules": str(self.rules.path) if self.rules is not None else None,
                "decision": decision.decision,
                "score": decision.score,
                "threshold": decision.threshold,
                "reasons": [{"code": r.code, "detail": r.detail, "value": r.value} for r in decision.reasons],
            }
        )
