"""The harness the tests and the benchmarks share: processes, the scenario chain, databases, waiting,
sign-in, units. `bench/` imports it; nothing here imports `bench/` or a test module."""
