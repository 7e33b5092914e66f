"""fraudstream scoring: the online feature table, request-time features, decision and the FastAPI app."""
