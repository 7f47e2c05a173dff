"""Which worker manages a signing key: the one holding its PostgreSQL advisory lock (session-level, on a
connection of its own), so two workers never hand out one key's nonces. A worker that dies loses its
connection, and with it the lock: another takes the key over on its next pass."""

LOCK_NAMESPACE = "fitmint.txqueue.signer:"


class SignerLocks:
    def __init__(self, connection):
        self._connection = connection  # not a pooled one: the locks live as long as this session
        self.held: set[str] = set()

    async def try_acquire(self, signer: str) -> bool:
        if signer not in self.held and await self._connection.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", LOCK_NAMESPACE + signer):
            self.held.add(signer)
        return signer in self.held

    async def close(self) -> None:
        await self._connection.close()  # every lock released with the session (a connection of its own)
        self.held.clear()
