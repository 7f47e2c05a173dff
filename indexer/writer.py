"""One indexer per database: the writer holds a PostgreSQL session advisory lock on a connection of its
own for as long as it runs. A second indexer started on the same database waits for the lock, says once
which process holds it, and takes over when that one stops. If the lock's connection is lost (PostgreSQL
restarted), the writer stops writing until it holds the lock again; the cursor fence of every write
(indexer.cursor.fence) covers the moment in between."""

import asyncio
import logging
import os
import socket

import asyncpg

from fitmint.resilience import Retrier, sleep_unless

log = logging.getLogger("indexer.writer")

WRITER_LOCK = 727276  # pg_advisory_lock key: "the indexer writing this database"
APPLICATION_NAME = f"fitmint-indexer pid {os.getpid()} on {socket.gethostname()}"


class WriterLost(RuntimeError):
    """The writer lock's connection is gone: the lock may be someone else's now."""


class WriterLock:
    def __init__(self, settings, retrier: Retrier, *, retry_seconds: float = 2.0):
        self.settings = settings
        self.retrier = retrier
        self.retry_seconds = retry_seconds
        self._connection: asyncpg.Connection | None = None

    async def acquire(self, stop: asyncio.Event | None = None) -> bool:
        """Waits until this process holds the lock (True) or `stop` is set (False)."""
        waiting_on = None
        while not (stop and stop.is_set()):
            try:
                await self._connect()
                if await self._connection.fetchval("SELECT pg_try_advisory_lock($1)", WRITER_LOCK):
                    if waiting_on is not None:
                        log.warning("took over writing %s", self.settings.indexer_database)
                    self.retrier.progressed("postgres")
                    return True
                holder = await self._holder()
                if holder != waiting_on:
                    log.warning("another indexer writes %s (%s): waiting for it to stop",
                                self.settings.indexer_database, holder)
                    waiting_on = holder
                self.retrier.progressed("postgres")
            except Exception as exc:  # PostgreSQL down: the retrier says so once
                if self.retrier.classify(exc) is None:
                    raise
                self.retrier.down("postgres", exc)
                await self._drop()
            await sleep_unless(stop, self.retry_seconds)
        return False

    def check(self) -> None:
        """Before a write: raises WriterLost unless the lock's connection is alive."""
        if self._connection is None or self._connection.is_closed():
            raise WriterLost(f"lost the writer lock of {self.settings.indexer_database} (connection closed)")

    async def release(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            try:
                await self._connection.execute("SELECT pg_advisory_unlock($1)", WRITER_LOCK)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass
        await self._drop()

    async def _connect(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            return
        self._connection = await asyncpg.connect(
            **self.settings.postgres(self.settings.indexer_database), timeout=10,
            server_settings={"application_name": APPLICATION_NAME})

    async def _holder(self) -> str:
        row = await self._connection.fetchrow(
            "SELECT a.application_name, a.client_addr::text AS address, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())", WRITER_LOCK)
        if row is None:
            return "a process that just let go"
        return (f"{row['application_name'] or 'unnamed client'} from {row['address']}, "
                f"connected {row['backend_start']:%F %T}")

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

