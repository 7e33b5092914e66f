"""Serving: the app and routes, the scorer, online tables, request features, model, rules, decision."""
