"""What the backtest tests share: the token key, the feature config and a train/test split of 12 days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from scoring.serving.settings import DEFAULT_RULES_PATH
from services.backtest.run import BacktestSpec, Period
from streaming.card_state import FeatureConfig

KEY = b"test-key"
CONFIG = FeatureConfig()
START = datetime(2026, 3, 1, tzinfo=UTC)
SPEC = BacktestSpec(
    train=Period(date(2026, 3, 1), date(2026, 3, 8)),
    test=Period(date(2026, 3, 9), date(2026, 3, 12)),
    rules_path=DEFAULT_RULES_PATH,
    workers=1,
    k=5,
)
