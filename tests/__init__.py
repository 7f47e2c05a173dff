"""The test suite. A regular package so that `tests.support` (the harness tests and benchmarks share)
resolves here: an installed dependency (pymultihash) ships a top-level `tests` package of its own."""
