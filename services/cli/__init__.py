"""The `fraudstream` command line, one sub-module per concern registered on the root app in `main`."""
