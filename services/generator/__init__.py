"""The generator: a seeded population, background traffic, fraud scenarios, labeled history, publishers."""
