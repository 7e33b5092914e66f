"""Settings shared by every fraudstream process, read from FRAUDSTREAM_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The project root when running from a checkout; the state and jar folders live beside it by default.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# A development-only default so that `make demo` works on a fresh machine. Production sets
# FRAUDSTREAM_TOKEN_KEY; `fraudstream status` warns when the default is in use.
DEV_TOKEN_KEY = "fraudstream-dev-only-key-change-me"


class StackSettings(BaseSettings):
    """Where Kafka, the state folder and the JVM jars are, and the topic names.

    The defaults describe the embedded single-machine stack. Pointing fraudstream at a real
    cluster means setting FRAUDSTREAM_KAFKA_BOOTSTRAP (and friends), never changing code.
    """

    model_config = SettingsConfigDict(env_prefix="FRAUDSTREAM_", env_file=".env", extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Existing cluster, e.g. b1:9092,b2:9092. Unset: the embedded broker.",
    )
    embedded_kafka_port: int = Field(default=9092, ge=1, le=65535)
    state_dir: Path = Field(default=PROJECT_ROOT / ".state", description="Embedded broker data, pids, logs.")
    jars_dir: Path = Field(default=PROJECT_ROOT / ".jars", description="Jars resolved by deploy/jvm/pom.xml.")

    topic_swipes: str = "swipes"
    topic_tiles: str = "card-tiles"
    tile_topic_retention_ms: int = Field(
        default=31 * 86_400_000,
        ge=60_000,
        description="How long card tiles stay on their topic: longer than the longest feature look-back "
        "(the 30-day profile), so a new scorer replica reads every tile it needs.",
    )
    topic_merchant_features: str = "merchant-features"
    topic_labels: str = "labels"
    topic_decisions: str = "decisions"
    topic_partitions: int = Field(default=2, ge=1)

    token_key: SecretStr = SecretStr(DEV_TOKEN_KEY)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients should use: the configured cluster or the embedded broker."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.embedded_kafka_port}"

    @property
    def embedded(self) -> bool:
        return self.kafka_bootstrap is None
