"""Backtests: a labeled file scored period by period as the scorer would, candidate rules on Delta history."""
