"""`python -m bench`: the benchmarks, as `fraudstream-bench` runs them."""

from bench.cli import main

main()
