"""fraudstream streaming: the swipe and feature contract, feature definitions and the Spark job."""
