"""The `fraudstream` command line: the root app (`root.py`) and one module per concern of commands."""

from services.cli.root import app, main

__all__ = ["app", "main"]
