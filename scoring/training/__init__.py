"""Training: fit models on swipes replayed as the scorer sees them, select, evaluate, gate promotion."""
