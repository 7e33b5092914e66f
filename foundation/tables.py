"""The Delta tables the feature job writes, named once: the job, the readers and `fraudstream status`."""

from __future__ import annotations

TABLE_SWIPES = "swipes"
TABLE_LABELS = "labels"
TABLE_DECISIONS = "decisions"
TABLE_DEAD_LETTERS = "dead_letters"
TABLE_SESSIONS = "sessions"
TABLE_MERCHANT_FEATURES = "merchant_features"
TABLE_REVIEWS = "reviews"
DELTA_TABLES = (
    TABLE_SWIPES,
    TABLE_SESSIONS,
    TABLE_DEAD_LETTERS,
    TABLE_LABELS,
    TABLE_DECISIONS,
    TABLE_REVIEWS,
    TABLE_MERCHANT_FEATURES,
)


def table_path(delta_root: str, name: str) -> str:
    """Where table `name` lives under the Delta root (a folder or an s3a:// prefix)."""
    return f"{delta_root.rstrip('/')}/{name}"


def table_paths(delta_root: str) -> dict[str, str]:
    """Every table the job writes, by name."""
    return {name: table_path(delta_root, name) for name in DELTA_TABLES}
