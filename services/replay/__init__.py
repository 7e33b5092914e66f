"""Replays: the stolen-card story (live and offline), a batch-job counterfactual, files of transactions."""
