from bench.processes import ROOT, Service, settings_env, start_api, start_worker  # noqa: F401 - moved to bench/
