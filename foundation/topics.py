"""Topic creation (the feature topics compacted, the tiles also expiring) and where client logs go."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from foundation.settings import StackSettings


def kafka_logger(component: str) -> logging.Logger:
    """The `logger` of a Kafka client's config: librdkafka's own lines (`%6|...|BGQUEUE|...`) go through
    Python logging, at the level the user set (FRAUDSTREAM_LOG_LEVEL), never raw on the terminal."""
    return logging.getLogger(f"fraudstream.kafka.{component}")


def admin_config(bootstrap: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An AdminClient's config, its logs through `kafka_logger`; `extra` in librdkafka's property names."""
    return {"bootstrap.servers": bootstrap, "logger": kafka_logger("admin"), **(extra or {})}


def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int = 2,
    replication: int = 1,
    compacted: Iterable[str] = (),
    retention_ms: Mapping[str, int] | None = None,
) -> None:
    """Create the topics that do not exist yet; leave existing ones as they are.

    A compacted topic keeps each key's newest value; one that also has a `retention_ms` drops values
    older than that too (`compact,delete`): a card tile nobody reads any more leaves the topic.
    """
    admin = AdminClient(admin_config(bootstrap))
    existing = set(admin.list_topics(timeout=10).topics)
    compacted = set(compacted)
    wanted = []
    for name in names:
        if name in existing:
            continue
        config = (
            {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"} if name in compacted else {}
        )
        if retention_ms and name in retention_ms:
            config.update({"cleanup.policy": "compact,delete", "retention.ms": str(retention_ms[name])})
        wanted.append(
            NewTopic(name, num_partitions=partitions, replication_factor=replication, config=config)
        )
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"could not create topic {name!r} on {bootstrap}: {exc}") from exc


def ensure_stack_topics(settings: StackSettings, replication: int = 1) -> None:
    ensure_topics(
        settings.bootstrap,
        [
            settings.topic_swipes,
            settings.topic_tiles,
            settings.topic_merchant_features,
            settings.topic_labels,
            settings.topic_decisions,
            settings.topic_reviews,
        ],
        partitions=settings.topic_partitions,
        replication=replication,
        compacted=[settings.topic_tiles, settings.topic_merchant_features, settings.topic_reviews],
        retention_ms={settings.topic_tiles: settings.tile_topic_retention_ms},
    )
