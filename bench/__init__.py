"""Benchmarks: one command each, every figure a ratio against a baseline measured in the same run."""
