"""fraudstream services: the generator and scenarios, the Kafka launcher and publishers, the replays, training
and backtest commands, the stack and its supervisor, and the `fraudstream` CLI."""
