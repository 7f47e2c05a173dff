"""The kernel's outbox (fitmint/outbox): the one DDL, which the API's migrations apply, and `append`, the
one way to write events in a transaction (`append_copy`, its bulk path, for ids new by construction)."""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest

from backend.app.core.db import migrate
from fitmint import events as ev
from fitmint.outbox.append import Outgoing, append, append_copy
from tests.support.databases import admin_dsn, kernel_outbox_database
from tests.support.eventschemas import assert_matches_schema

_STRUCTURE = (
    "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' "
    "       || coalesce(column_default, '') AS item FROM information_schema.columns "
    "WHERE table_schema = 'public' AND table_name IN ('outbox', 'relay_position') "
    "UNION ALL SELECT indexdef FROM pg_indexes "
    "WHERE schemaname = 'public' AND tablename IN ('outbox', 'relay_position') "
    "ORDER BY 1")


async def _connect(stack, database) -> asyncpg.Connection:
    return await asyncpg.connect(**admin_dsn(stack), database=database)


def _structure(stack, database) -> list[str]:
    async def read():
        connection = await _connect(stack, database)
        try:
            return [row["item"] for row in await connection.fetch(_STRUCTURE)]
        finally:
            await connection.close()
    return asyncio.run(read())


@pytest.fixture
def kernel_outbox(stack):
    """A database holding only the kernel's outbox."""
    with kernel_outbox_database(stack) as name:
        yield name


def test_the_apis_migrations_give_the_kernels_outbox(stack, settings, kernel_outbox):
    migrate(settings)
    kernel = _structure(stack, kernel_outbox)
    assert any("outbox_publish_order" in item for item in kernel) and any(".txid " in item for item in kernel)
    assert _structure(stack, settings.backend_database) == kernel


def _queued(**overrides) -> Outgoing:
    payload = ev.NotificationQueued(notification_id=str(uuid.uuid4()), user_id=str(uuid.uuid4()),
                                    tenant_id=str(uuid.uuid4()), kind="token.minted", source_event=str(uuid.uuid4()),
                                    corrects=None, channels=["websocket"])
    return Outgoing(**{"id": str(uuid.uuid4()), "type": ev.NOTIFICATION_QUEUED, "payload": payload,
                       "time": datetime.now(UTC), **overrides})


def test_append_writes_each_event_once_in_order_in_the_callers_transaction(stack, kernel_outbox):
    first, second = _queued(), _queued()
    batch = Outgoing(str(uuid.uuid4()), ev.EMAIL_BATCH_READY, ev.EmailBatchReady(batch_id="b", count=2, source="retry"))

    async def scenario():
        connection = await _connect(stack, kernel_outbox)
        try:
            async with connection.transaction():
                await append(connection, [first, second, batch])
                await append(connection, [second])  # the same event again: skipped
                await append(connection, [])
            with pytest.raises(RuntimeError):
                async with connection.transaction():
                    await append(connection, [_queued()])
                    raise RuntimeError("the caller's transaction rolls back")
            return await connection.fetch("SELECT id::text, aggregatetype, aggregateid, type, payload::text, "
                                          "event_time, block_number, reverts FROM outbox ORDER BY seq")
        finally:
            await connection.close()

    rows = asyncio.run(scenario())
    assert [(r["id"], r["aggregatetype"], r["aggregateid"], r["type"]) for r in rows] == [
        (first.id, "fitmint.notifications", first.payload.user_id, ev.NOTIFICATION_QUEUED.ce_type),
        (second.id, "fitmint.notifications", second.payload.user_id, ev.NOTIFICATION_QUEUED.ce_type),
        (batch.id, "fitmint.email", "b", ev.EMAIL_BATCH_READY.ce_type)]
    assert msgspec.json.decode(rows[0]["payload"], type=ev.NotificationQueued) == first.payload
    assert rows[0]["event_time"] == first.time and rows[2]["event_time"] is None
    for row in rows:
        assert_matches_schema(row["type"], row["payload"])


def test_append_copy_writes_thousands_in_order_and_refuses_an_id_twice(stack, kernel_outbox):
    def minted(i: int) -> Outgoing:
        block_hash = "0x" + f"{i:064x}"
        payload = ev.TokenMinted(account="0x" + f"{i:040x}", amount=str(i * 10**18), block_number=i,
                                 block_hash=block_hash, tx_hash=block_hash, log_index=0)
        return Outgoing(ev.event_id(31337, block_hash, 0, ev.TOKEN_MINTED), ev.TOKEN_MINTED, payload,
                        datetime.now(UTC), block_number=i)

    events = [minted(i) for i in range(1, 3001)]
    undone = Outgoing(ev.reverted_id(events[-1].id), ev.TOKEN_MINTED.reverted,
                      ev.Reverted(reverts=events[-1].id, original=events[-1].payload), reverts=events[-1].id)

    async def scenario():
        connection = await _connect(stack, kernel_outbox)
        try:
            async with connection.transaction():
                await append_copy(connection, [*events, undone])
            with pytest.raises(asyncpg.UniqueViolationError):
                async with connection.transaction():
                    await append_copy(connection, events[:1])
            return await connection.fetch("SELECT id::text, aggregateid, block_number, reverts::text, payload::text "
                                          "FROM outbox ORDER BY seq")
        finally:
            await connection.close()

    rows = asyncio.run(scenario())
    assert [r["id"] for r in rows] == [e.id for e in events] + [undone.id]
    assert [r["block_number"] for r in rows] == [*range(1, 3001), None]
    assert rows[-1]["reverts"] == events[-1].id and rows[-1]["aggregateid"] == events[-1].payload.account
    assert_matches_schema(ev.TOKEN_MINTED.ce_type, rows[0]["payload"])
    assert_matches_schema(undone.type.ce_type, rows[-1]["payload"])
