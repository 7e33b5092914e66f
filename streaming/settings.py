"""Settings of the feature job: where it reads, where it writes, its windows and its cadence."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from foundation.settings import FeatureWindows
from foundation.tables import table_path
from streaming.card_state import FeatureConfig
from streaming.merchant_state import MerchantConfig

# How often Spark reports a query that has nothing to read (spark.sql.streaming.noDataProgressEventInterval).
SPARK_IDLE_EVENT_S = 10.0


class FeatureSettings(FeatureWindows):
    """The feature windows of `FeatureWindows`, as the card and merchant configs the features read.

    The feature job and the scorer both build on it, so they turn the same variables into the same configs.
    """

    @model_validator(mode="after")
    def _merchant_windows_are_whole_buckets(self) -> FeatureSettings:
        # MerchantConfig refuses windows that are not whole buckets: fail at start-up, not in the job.
        _ = self.merchant_config
        return self

    @property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig(horizons_s=tuple(self.horizons_s), session_gap_s=self.session_gap_s)

    @property
    def merchant_config(self) -> MerchantConfig:
        return MerchantConfig(
            volume_horizons_s=tuple(self.merchant_volume_horizons_s),
            fraud_horizons_s=tuple(self.merchant_fraud_horizons_s),
            label_delay_s=self.label_delay_s,
            bucket_s=self.merchant_bucket_s,
        )


class StreamSettings(FeatureSettings):
    """FRAUDSTREAM_* settings of the Spark job. Defaults run it on local[2] beside the embedded broker.

    On a cluster, set FRAUDSTREAM_SPARK_MASTER (or run under `spark-submit --master ...`, which wins),
    FRAUDSTREAM_DELTA_ROOT and FRAUDSTREAM_CHECKPOINT_ROOT to object storage (s3a://...).
    """

    spark_master: str = "local[2]"
    delta_root: str = Field(default="", description="Delta tables root; empty means <state_dir>/delta.")
    checkpoint_root: str = Field(
        default="", description="Checkpoint root; empty means <state_dir>/checkpoints."
    )
    watermark_s: int = Field(default=600, ge=0, description="Allowed event-time lateness.")
    trigger_s: float = Field(
        default=1.0, ge=0, description="Micro-batch trigger interval; 0 = as fast as possible."
    )
    history_trigger_s: float = Field(
        default=30.0,
        ge=0,
        description="Trigger of the queries nothing waits on: history (Delta swipes, labels, decisions, "
        "dead_letters), sessions and merchant_features (its windows are hourly buckets); card_tiles keeps "
        "trigger_s. Each of their batches costs seconds of fixed work (Delta commits that replay the "
        "log), so running them rarely, in big batches, leaves the two cores to the hot query.",
    )
    delta_log_partitions: int = Field(
        default=1,
        ge=1,
        description="Partitions of Delta's log replay, which every commit with a txnAppId runs; "
        "1 suits tables of up to some thousands of files, raise it for bigger ones.",
    )
    shuffle_partitions: int = Field(default=2, ge=1)
    starting_offsets: str = Field(
        default="earliest",
        description="Where a new checkpoint starts reading swipes and labels: earliest, latest, or Spark's "
        'JSON form ({"swipes":{"0":-2}}). Decisions always start from the earliest.',
    )
    max_offsets_per_trigger: int | None = None
    tile_engine: Literal["jvm", "sql"] = Field(
        default="jvm",
        description="How the hot query folds swipes into card tiles: jvm, the TileProcessor of "
        "streaming/jvm (transformWithState, built by `make jars`), or sql, Spark's own aggregates. "
        "Both read streaming.tiles.MEASURES and give the same tiles.",
    )
    metrics_port: int = Field(
        default=9108, ge=0, le=65535, description="Prometheus port of the job; 0 = off."
    )
    queries: Literal["all", "hot", "history"] = Field(
        default="all",
        description="Which of the job's queries this driver runs: all; hot, card_tiles alone (the "
        "query the scorer waits on); history, the other three (Delta tables, sessions, merchants). On a "
        "cluster, run a driver of each, so the history batches never hold the hot query's executors.",
    )
    history_apart: bool = Field(
        default=True,
        description="With queries=all on a local master: run the history queries in a second driver, "
        "a child process at CPU priority history_nice, so the hot query gets the cores first. The "
        "child reads the same settings; its progress and dead letters reach this driver's metrics.",
    )
    history_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How much lower the history driver's CPU priority is (nice increment, 0-19).",
    )
    history_starved_s: float = Field(
        default=300.0,
        description="The history driver's floor: when its queries have finished no batch for this "
        "long, the driver that started it gives it its own CPU priority back until a batch leaves no "
        "backlog (streaming.history_floor); 0 = never. Lifting a priority needs CAP_SYS_NICE or "
        "RLIMIT_NICE.",
    )

    @field_validator("starting_offsets")
    @classmethod
    def _starting_offsets_known(cls, value: str) -> str:
        value = value.strip()
        if value not in ("earliest", "latest") and not value.startswith("{"):
            raise ValueError(
                f"starting offsets {value!r}: expected earliest, latest or Spark's JSON form "
                '({"swipes":{"0":-2}}); set e.g. FRAUDSTREAM_STARTING_OFFSETS=latest'
            )
        return value

    @model_validator(mode="after")
    def _starvation_longer_than_a_history_trigger(self) -> StreamSettings:
        # A history query reports a batch at most every trigger, and an idle one every
        # SPARK_IDLE_EVENT_S: a shorter wait would lift the driver's priority between two reports.
        starved, trigger = self.history_starved_s, self.history_trigger_s
        shortest = trigger + SPARK_IDLE_EVENT_S
        if starved < 0 or (starved and starved <= shortest):
            raise ValueError(
                f"history_starved_s {starved:g}: expected 0 (no floor) or longer than the history trigger "
                f"plus Spark's {SPARK_IDLE_EVENT_S:g} s between idle reports ({shortest:g} s); set e.g. "
                f"FRAUDSTREAM_HISTORY_STARVED_S={max(300, 10 * trigger):g}"
            )
        return self

    @model_validator(mode="after")
    def _tiles_final_before_readers_roll_them(self) -> StreamSettings:
        # Readers of card-tiles roll a tile into the card's history `final_after_s` after its end; a
        # later value of it (a swipe up to the watermark late) would then be ignored.
        final_after = self.feature_config.final_after_s
        if self.watermark_s > final_after:
            raise ValueError(
                f"watermark_s {self.watermark_s} is longer than the {final_after} s after which readers take "
                f"a card tile as final; set FRAUDSTREAM_WATERMARK_S to at most {final_after}"
            )
        return self

    @property
    def delta_path(self) -> str:
        return self.delta_root or str(self.state_dir / "delta")

    @property
    def checkpoint_path(self) -> str:
        return self.checkpoint_root or str(self.state_dir / "checkpoints")

    def table(self, name: str) -> str:
        return table_path(self.delta_path, name)

    def checkpoint(self, query: str) -> str:
        return f"{self.checkpoint_path.rstrip('/')}/{query}"
