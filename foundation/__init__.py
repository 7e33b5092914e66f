"""fraudstream's floor, importing nothing of ours: settings, topic and table names, tokens, logs, geometry."""
