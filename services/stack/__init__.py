"""The local stack: start, stop and watch its processes, their health, the supervisor that restarts them."""
