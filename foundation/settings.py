"""Settings every fraudstream process shares (the stack, the feature windows), from FRAUDSTREAM_*."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The project root when running from a checkout; the state and jar folders live beside it by default.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# A development-only default so that `make demo` works on a fresh machine. Production sets
# FRAUDSTREAM_TOKEN_KEY; `fraudstream status` warns when the default is in use.
DEV_TOKEN_KEY = "fraudstream-dev-only-key-change-me"


def comma_or_json_list(value: Any) -> Any:
    """A list setting from the environment: `600,3600,86400` or the JSON `[600, 3600, 86400]`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


# Seconds, as a list setting takes them: FRAUDSTREAM_HORIZONS_S=600,3600,86400 (or a JSON list).
SecondsList = Annotated[list[int], NoDecode, BeforeValidator(comma_or_json_list)]
# Names, the same way: FRAUDSTREAM_SWIPE_FIELDS=merchant,mcc,country.
NameList = Annotated[list[str], NoDecode, BeforeValidator(comma_or_json_list)]


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
    topic_reviews: str = "reviews"
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


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def derive(cls: type[SettingsT], settings: BaseSettings, **update: Any) -> SettingsT:
    """Settings of class `cls` holding every value `settings` holds (the fields both classes have),
    `update` on top, and reading only the rest from the environment: a command builds its settings
    once and hands the other processes' classes what it resolved."""
    shared = {
        name: getattr(settings, name) for name in cls.model_fields if name in type(settings).model_fields
    }
    return cls(**{**shared, **update})


def settings_env(settings: BaseSettings) -> dict[str, str]:
    """FRAUDSTREAM_* variables that rebuild `settings` in another process, secrets included: a
    driver hands a child process its resolved settings this way, not only its own environment.

    Unset optional values (None) are left out; lists go as JSON.
    """
    prefix = str(settings.model_config.get("env_prefix", ""))
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list | tuple):
            value = json.dumps(list(value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"{prefix}{name}".upper()] = str(value)
    return env


# --- the feature windows every process must agree on ------------------------------------------

HOUR_S = 3600
DAY_S = 86400
# The card windows: 10 min, 1 h, 1 d, 7 d and 30 d.
DEFAULT_HORIZONS_S: tuple[int, ...] = (600, 3600, DAY_S, 7 * DAY_S, 30 * DAY_S)
DEFAULT_SESSION_GAP_S = 1800
DEFAULT_MERCHANT_VOLUME_HORIZONS_S: tuple[int, ...] = (HOUR_S, DAY_S, 7 * DAY_S, 30 * DAY_S)
DEFAULT_MERCHANT_FRAUD_HORIZONS_S: tuple[int, ...] = (DAY_S, 7 * DAY_S, 30 * DAY_S)
DEFAULT_LABEL_DELAY_S = 7 * DAY_S
DEFAULT_MERCHANT_BUCKET_S = HOUR_S


class FeatureWindows(StackSettings):
    """The card and merchant windows, read by the feature job and the scorer under the same names.

    The scorer extends the job's card windows with the swipes it decided itself (the lag cover) and
    reads the job's merchant records, so both must see the same values: they are defined here once.
    """

    horizons_s: SecondsList = Field(
        default=list(DEFAULT_HORIZONS_S), description="Sliding-window horizons, seconds."
    )
    session_gap_s: int = Field(
        default=DEFAULT_SESSION_GAP_S, gt=0, description="A longer pause between swipes ends a session."
    )
    merchant_volume_horizons_s: SecondsList = Field(
        default=list(DEFAULT_MERCHANT_VOLUME_HORIZONS_S),
        description="Merchant volume horizons, seconds (whole buckets).",
    )
    merchant_fraud_horizons_s: SecondsList = Field(
        default=list(DEFAULT_MERCHANT_FRAUD_HORIZONS_S),
        description="Merchant fraud-rate horizons, seconds (whole buckets).",
    )
    label_delay_s: int = Field(
        default=DEFAULT_LABEL_DELAY_S,
        description="The merchant fraud rate counts only swipes this old: their chargebacks are mostly in.",
    )
    merchant_bucket_s: int = Field(
        default=DEFAULT_MERCHANT_BUCKET_S,
        description="Time bucket of the merchant state; windows are whole buckets.",
    )

    @field_validator("horizons_s")
    @classmethod
    def _horizons_sorted_unique(cls, value: list[int]) -> list[int]:
        if not value or any(h <= 0 for h in value):
            raise ValueError("horizons must be positive seconds, e.g. [600, 3600, 86400]")
        return sorted(set(value))

    @field_validator("merchant_volume_horizons_s", "merchant_fraud_horizons_s")
    @classmethod
    def _merchant_horizons_sorted_unique(cls, value: list[int]) -> list[int]:
        return sorted(set(value))


# --- one line per bad setting ------------------------------------------------------------------

_ENV_PREFIX = "FRAUDSTREAM_"
_FORMATS: dict[Any, tuple[str, str]] = {
    int: ("a whole number", "10"),
    float: ("a number", "1.5"),
    bool: ("true or false", "true"),
    str: ("text", "value"),
    Path: ("a path", "/var/lib/fraudstream"),
    SecretStr: ("text (a secret)", "<secret>"),
}


def _settings_class(title: str) -> type[BaseSettings] | None:
    todo: list[type[BaseSettings]] = [StackSettings]
    while todo:
        cls = todo.pop()
        if cls.__name__ == title:
            return cls
        todo.extend(cls.__subclasses__())
    return None


def _format_and_example(field: FieldInfo) -> tuple[str, str]:
    metadata = field.metadata
    if any(isinstance(m, BeforeValidator) and m.func is comma_or_json_list for m in metadata):
        default = field.default if isinstance(field.default, list) else [600, 3600]
        ints = get_args(field.annotation) == (int,)
        what = "whole seconds" if ints else "names"
        return f"{what} separated by commas (or a JSON list)", ",".join(str(v) for v in default)
    annotation = field.annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    kind = args[0] if args and get_origin(annotation) in (Union, UnionType) else annotation
    if get_origin(kind) is Literal:
        choices = [str(c) for c in get_args(kind)]
        expected, example = f"one of {', '.join(choices)}", choices[0]
    else:
        expected, example = _FORMATS.get(kind, ("a value", "value"))
    if field.examples:
        example = str(field.examples[0])
    elif field.default not in (None, "", PydanticUndefined) and not isinstance(field.default, SecretStr):
        example = str(field.default).lower() if isinstance(field.default, bool) else str(field.default)
    return expected, example


def setting_problems(exc: ValidationError) -> list[str] | None:
    """One line per bad FRAUDSTREAM_* value: the variable, the value, what is wrong, the format, an example.

    None when `exc` is not about a settings class (a swipe or a model file, say): the caller re-raises.
    """
    settings_cls = _settings_class(exc.title)
    if settings_cls is None:
        return None
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a check across settings: its message names the variables itself
            lines.append(message)
            continue
        name = str(error["loc"][0])
        env = f"{_ENV_PREFIX}{name.upper()}"
        value = os.environ.get(env, error.get("input"))
        field = settings_cls.model_fields.get(name)
        if field is None:
            lines.append(f"{env}={value!r}: {message}")
            continue
        expected, example = _format_and_example(field)
        lines.append(f"{env}={value!r}: {message}; expected {expected}, e.g. {env}={example}")
    return lines
