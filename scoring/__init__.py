"""fraudstream scoring: serving (the FastAPI app, online tables, features, model, rules) and training."""
