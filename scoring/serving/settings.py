"""Settings of the scorer: where it listens, its model and rules, its degraded-mode policy."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from foundation.settings import DEV_TOKEN_KEY, NameList
from scoring.serving.inputs import SWIPE_FIELDS, check_fields
from streaming.settings import FeatureSettings

DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "resources" / "rules.toml"


class ScorerSettings(FeatureSettings):
    """FRAUDSTREAM_* settings of the FastAPI scorer. Defaults run it beside the embedded stack.

    The feature windows (`FeatureWindows`) are the feature job's, read from the same variables.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    env: Literal["development", "production"] = Field(
        default="development",
        description="production refuses to start without FRAUDSTREAM_API_TOKEN or with the dev token key.",
    )
    api_token: SecretStr | None = Field(
        default=None, description="Bearer token required on /v1/score; unset = no auth (local only)."
    )
    rules_path: Path = Field(default=DEFAULT_RULES_PATH, description="TOML rules, reloaded on change.")
    model_path: Path | None = Field(
        default=None, description="Model artifact JSON; unset = <state_dir>/models/current.json."
    )
    shadow_model_path: Path | None = Field(
        default=None,
        description="A challenger model artifact, scored after each response; its decision is recorded "
        "beside the champion's on `decisions`, never answered.",
    )
    shadow_rules_path: Path | None = Field(
        default=None,
        description="A challenger TOML rules file, evaluated like the shadow model (with the shadow model, "
        "or else the champion's).",
    )
    psi_window: int = Field(
        default=10_000, ge=1, description="The last N scores fraudstream_score_psi compares with training."
    )
    psi_min_scores: int = Field(
        default=500, ge=1, description="fraudstream_score_psi is NaN until the window holds this many."
    )
    stale_after_s: float = Field(
        default=300.0,
        gt=0,
        description="A card's features are stale when a swipe the scorer decided this long ago (wall "
        "clock) is still not folded into them.",
    )
    fail_open: bool = Field(
        default=True,
        description="With no usable model and no rule firing: approve (True) or deny (False).",
    )
    max_body_bytes: int = Field(default=16_384, ge=256)
    publish_swipes: bool = Field(
        default=True, description="Publish each decided swipe to the swipes topic and its decision record."
    )
    publish_linger_ms: int = Field(
        default=50,
        ge=0,
        le=1000,
        description="How long the producer gathers decided swipes into one batch. Longer batches cost "
        "Kafka and the broker less CPU per swipe (5 -> 50 ms: +15-30 % scorer throughput with a broker on "
        "the same cores) and delay a swipe's arrival on its topic by at most this; the feature job's "
        "micro-batches are seconds apart.",
    )
    deny_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Deny when score >= this; unset = the model's threshold."
    )
    swipe_fields: NameList = Field(
        default=list(SWIPE_FIELDS),
        description="The optional swipe fields this scorer's traffic carries (merchant, mcc, country, "
        "channel, position); it refuses a model that reads another.",
    )
    lag_cover_swipes_per_card: int = Field(default=32, ge=1)
    lag_cover_cards: int = Field(default=200_000, ge=1)
    reload_check_s: float = Field(
        default=1.0, ge=0, description="Check rules/model mtimes at most this often."
    )
    log_level: str = "INFO"

    @field_validator("swipe_fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        return list(check_fields(value))

    @field_validator("api_token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @model_validator(mode="after")
    def _production_is_locked(self) -> ScorerSettings:
        if self.env != "production":
            return self
        if self.api_token is None:
            raise ValueError(
                "FRAUDSTREAM_ENV=production needs FRAUDSTREAM_API_TOKEN: set it to a long random string "
                "(e.g. `openssl rand -hex 32`) and give it to the callers as `Authorization: Bearer ...`"
            )
        if self.token_key.get_secret_value() == DEV_TOKEN_KEY:
            raise ValueError(
                "FRAUDSTREAM_ENV=production needs its own FRAUDSTREAM_TOKEN_KEY: the default is the "
                "development key; set the key every fraudstream process tokenizes card numbers with"
            )
        return self

    @property
    def resolved_model_path(self) -> Path:
        return self.model_path or self.state_dir / "models" / "current.json"
