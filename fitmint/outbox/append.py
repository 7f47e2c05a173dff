"""The one way to write events to an outbox, in the caller's transaction (asyncpg connection): typed
events in, rows of fitmint/outbox/schema.sql out, published by fitmint/outbox/relay.py.

`append` is for any writer, one event or many: ids are deterministic (fitmint.events.ids), so an event
written again is the same event and is skipped (`ON CONFLICT (id) DO NOTHING`). `append_copy` is the
bulk path of a writer whose ids are new by construction (the indexer's batch of thousands): COPY, where
an id written twice fails the transaction.

Each row keeps the trace context it was written in (`traceparent`): the event's own, given by a writer
whose batch mixes traces (a consumer applying many records, the indexer's transactions at the head), or
else the current span's (a request, a job). The relay continues the trace from it (fitmint/outbox/relay.py).
"""

from collections.abc import Sequence
from datetime import datetime

import msgspec

from fitmint.events import EventType, Payload
from fitmint.pgcopy import copy_rows
from fitmint.telemetry.propagation import current_traceparent

COLUMNS = ("id", "aggregatetype", "aggregateid", "type", "payload", "event_time", "block_number", "reverts",
           "traceparent")

_encode = msgspec.json.Encoder().encode


class Outgoing(msgspec.Struct, frozen=True):
    """One event to write: its id, type and payload; when it happened; for a chain event, its block (the
    reorg path finds the events of undone blocks by it) or the event it reverts."""
    id: str
    type: EventType
    payload: Payload
    time: datetime | None = None
    block_number: int | None = None
    reverts: str | None = None
    traceparent: str | None = None  # the trace it continues (None: the writer's current span's, if any)

    def row(self, traceparent: str | None = None) -> tuple:
        """The outbox row, in COLUMNS order (the payload as JSON text; `traceparent` unless the event
        names its own)."""
        return (self.id, self.type.topic, self.type.subject(self.payload), self.type.ce_type,
                _encode(self.payload).decode(), self.time, self.block_number, self.reverts,
                self.traceparent or traceparent)


_TYPES = ("uuid", "text", "text", "text", "json", "timestamptz", "bigint", "uuid", "text")  # COLUMNS', in order


def insert_statement(first: int = 1) -> str:
    """`append`'s INSERT, its parameters numbered from `first`: a writer may run it as a data-modifying
    WITH clause of its own statement (one round trip for its row and its event), with `insert_arguments`."""
    arrays = ", ".join(f"${first + n}::{kind}[]" for n, kind in enumerate(_TYPES))
    return f"INSERT INTO outbox ({', '.join(COLUMNS)}) SELECT * FROM unnest({arrays}) ON CONFLICT (id) DO NOTHING"


_INSERT = insert_statement()


def insert_arguments(events: Sequence[Outgoing]) -> list[list]:
    """`insert_statement`'s arguments: one array per column."""
    rows = outbox_rows(events)
    return [[row[i] for row in rows] for i in range(len(COLUMNS))]


async def append(connection, events: Sequence[Outgoing]) -> None:
    """Writes `events` in order, in one statement, in the caller's transaction; an id already in the
    outbox is skipped."""
    if not events:
        return
    await connection.execute(_INSERT, *insert_arguments(events))


def outbox_rows(events: Sequence[Outgoing]) -> list[tuple]:
    """The outbox rows of `events`, in COLUMNS order (the current span's trace for those naming none)."""
    current = current_traceparent()
    return [event.row(current) for event in events]


async def append_copy(connection, events: Sequence[Outgoing]) -> None:
    """Writes `events` in order with COPY (PostgreSQL's text format, parsed on the server: the fast
    path for thousands of rows), in the caller's transaction. Their ids must be new."""
    await copy_rows(connection, "outbox", COLUMNS, outbox_rows(events))
