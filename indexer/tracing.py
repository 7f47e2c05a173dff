"""A chain transaction starts its trace: at the head, each transaction of a batch gets a root span
"chain tx" whose trace id is derived from its hash (fitmint.telemetry.propagation.chain_trace_id), and
its events' outbox rows carry that span's context, so the relay, the consumers and the WebSocket push
continue the same trace. Whoever holds the transaction hash finds the trace in Jaeger.

Only small batches at the head are traced (`Settings.trace_max_logs`): there a batch is the few
transactions of the last blocks, and a span per transaction costs tens of microseconds against the
milliseconds of the write. A backfill batch (thousands of logs, written at 20-30k events/s) gets no
span and its rows no context, so nothing downstream records them either."""

import time
from collections import defaultdict

import msgspec
from opentelemetry.context import Context

from fitmint import telemetry
from fitmint.telemetry.propagation import chain_trace_id, traceparent_of


def traced(events: int, max_logs: int) -> bool:
    """Whether a head batch of `events` logs gets its transactions' spans."""
    return 0 < events <= max_logs and telemetry.active()


def start_transaction_spans(projection, chain_id: int, start_time: int | None = None) -> list:
    """A started root span per transaction of the batch, and the batch's outbox rows stamped with the
    span of their transaction. The caller ends the spans once the batch is committed."""
    by_tx = defaultdict(list)
    for row in projection.events:  # (block_number, log_index, block_hash, tx_hash, address, contract, name, ...)
        by_tx[row[3]].append(row)
    start_time = start_time or time.time_ns()
    spans, contexts = [], {}
    for tx_hash, rows in by_tx.items():
        with telemetry.chosen_trace_id(chain_trace_id(tx_hash)):
            span = telemetry.tracer().start_span("chain tx", context=Context(), start_time=start_time, attributes={
                "fitmint.chain.id": chain_id,
                "fitmint.chain.block.number": rows[0][0],
                "fitmint.chain.block.hash": rows[0][2],
                "fitmint.chain.tx.hash": tx_hash,
                "fitmint.chain.log_indexes": [row[1] for row in rows],
                "fitmint.chain.events": [f"{row[5]}.{row[6]}" for row in rows],
            })
        spans.append(span)
        contexts[tx_hash] = traceparent_of(span.get_span_context())
    projection.outbox[:] = [
        msgspec.structs.replace(event, traceparent=contexts.get(getattr(event.payload, "tx_hash", None)))
        for event in projection.outbox]
    return spans

