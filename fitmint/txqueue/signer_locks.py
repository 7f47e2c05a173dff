"""Which worker manages a signing key: the one holding its PostgreSQL advisory lock (session-level, on a
connection of its own), so two workers do not hand out one key's nonces. A worker that dies loses its
connection, and with it the lock: another takes the key over on its next pass. The lock keeps workers from
wasting work on each other; the records are what make a double send impossible (store.record_first_attempts)."""

import asyncpg

LOCK_NAMESPACE = "fitmint.txqueue.signer:"


class SignerLocks:
    def __init__(self, postgres: dict):
        self._postgres = postgres  # asyncpg.connect's arguments
        self._connection: asyncpg.Connection | None = None
        self.held: set[str] = set()

    async def try_acquire(self, signer: str) -> bool:
        if self._connection is None or self._connection.is_closed():
            self.held.clear()
            self._connection = await asyncpg.connect(**self._postgres)
        if signer not in self.held and await self._connection.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", LOCK_NAMESPACE + signer):
            self.held.add(signer)
        return signer in self.held

    async def confirm(self) -> None:
        """Forgets every lock unless this session still holds them all (a connection lost, e.g. to a PostgreSQL
        restart, took them along): the next try_acquire connects again."""
        try:
            count = None
            if self._connection is not None and not self._connection.is_closed():
                count = await self._connection.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()")
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError):
            count = None
        if count != len(self.held):
            self.held.clear()
            if self._connection is not None:
                self._connection.terminate()
                self._connection = None

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()  # every lock released with the session
            self._connection = None
        self.held.clear()
