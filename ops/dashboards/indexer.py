"""The indexer (job indexer): the chain's head and the cursor, how far behind it is in blocks and in chain
time, events decoded, reorgs, and its outbox relay to Kafka."""

from ops.dashboards.alerts import threshold
from ops.dashboards.kit import RATE, Query, Steps, board, graph, per_second, process

RELAY = 'job="indexer"'


def dashboard():
    return board("fitmint-indexer", "fitmint / Indexer", __doc__, "indexer", [
        ("Chain and cursor", [
            graph("Head and cursor", Query("max(fitmint_indexer_head_block)", "chain head"),
                  Query("max(fitmint_indexer_cursor_block)", "indexed"), unit="none", minimum=None, width=8),
            graph("Lag (blocks)", Query("max(fitmint_indexer_lag_blocks)", "head - cursor"), unit="none",
                  steps=Steps(alert=threshold("IndexerLagging")), width=8),
            graph("Lag (seconds of chain time)", Query("max(fitmint_indexer_lag_seconds)", "behind the chain"),
                  unit="s", steps=Steps(alert=threshold("IndexerStale")), width=8,
                  description="The head block's timestamp minus the cursor block's: how old what dApps read is "
                  "(0 when caught up; does not grow while the chain makes no blocks)"),
        ]),
        ("Events", [
            graph("Events per second", Query(per_second("fitmint_indexer_events_total"), "decoded and stored"),
                  unit="ops", width=8),
            graph("Logs skipped", Query(per_second("fitmint_indexer_skipped_logs_total"), "undecodable"), unit="ops",
                  width=8, description="Logs of our contracts that could not be decoded, per second"),
            graph("Reorgs", Query(f"sum(increase(fitmint_indexer_reorgs_total[{RATE}]))", "reorgs handled"),
                  unit="none", width=8),
        ]),
        ("Relay: outbox -> Kafka", [
            graph("Published per second", Query(per_second("fitmint_relay_published_total", where=RELAY),
                                                "published"), unit="ops", width=8),
            graph("Backlog", Query(f"max(fitmint_relay_outbox_backlog{{{RELAY}}})", "not yet published"),
                  unit="none", width=8),
            graph("Oldest unpublished row", Query(f"max(fitmint_relay_outbox_oldest_age_seconds{{{RELAY}}})", "age"),
                  unit="s", steps=Steps(alert=threshold("OutboxStuck")), width=8),
        ]),
        ("Process", process("indexer")),
    ])
