"""The embedded single-node Kafka broker the local stack runs on."""
