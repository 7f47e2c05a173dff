"""Chain-side helpers shared by the API, the tests and the scripts."""
