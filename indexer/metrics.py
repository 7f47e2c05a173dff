"""Prometheus metrics of the indexer (its relay's are in fitmint/outbox/metrics.py)."""

from prometheus_client import Counter, Gauge

HEAD = Gauge("fitmint_indexer_head_block", "Latest block number seen on the chain")
CURSOR = Gauge("fitmint_indexer_cursor_block", "Last block indexed")
LAG = Gauge("fitmint_indexer_lag_blocks", "Blocks between the chain head and the cursor")
# What dApps read is this far behind the chain: the head block's timestamp minus the cursor block's. 0 at
# the head, and it does not grow while the chain makes no blocks (now - the cursor's timestamp would, on an
# idle chain, and page someone for nothing); an indexer that stops updating it is `up == 0` or a
# dependency down.
LAG_SECONDS = Gauge("fitmint_indexer_lag_seconds", "Seconds between the chain head's block time and the cursor's")
EVENTS = Counter("fitmint_indexer_events_total", "Events decoded and stored")
SKIPPED = Counter("fitmint_indexer_skipped_logs_total", "Logs that could not be decoded (skipped)")
REORGS = Counter("fitmint_indexer_reorgs_total", "Reorgs handled")
