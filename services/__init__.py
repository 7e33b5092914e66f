"""fraudstream services: the swipe generator, scenarios, the embedded Kafka launcher and the CLI."""
