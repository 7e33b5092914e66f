"""Training commands: `fraudstream train` on generated or Delta history, promotion, the shadow report."""
