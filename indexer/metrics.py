"""Prometheus metrics of the indexer (its relay's are in fitmint/outbox/metrics.py)."""

from prometheus_client import Counter, Gauge

HEAD = Gauge("fitmint_indexer_head_block", "Latest block number seen on the chain")
CURSOR = Gauge("fitmint_indexer_cursor_block", "Last block indexed")
LAG = Gauge("fitmint_indexer_lag_blocks", "Blocks between the chain head and the cursor")
EVENTS = Counter("fitmint_indexer_events_total", "Events decoded and stored")
SKIPPED = Counter("fitmint_indexer_skipped_logs_total", "Logs that could not be decoded (skipped)")
REORGS = Counter("fitmint_indexer_reorgs_total", "Reorgs handled")
