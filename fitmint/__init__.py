"""The shared kernel: what every component of fitmint (indexer, API, worker) builds on and which imports
none of them. It starts with `resilience` (riding out outages of the services a process depends on)."""
