"""The queue's records, as the worker reads and writes them (asyncpg)."""

from dataclasses import dataclass

import asyncpg

from fitmint.txqueue import outcomes
from fitmint.txqueue.fees import Fees

IN_FLIGHT = ("queued", "sent")


class NonceTaken(Exception):
    """Another worker recorded this request's nonce, or this nonce for another request, first."""


@dataclass(frozen=True)
class Attempt:
    tx_hash: str
    raw: str
    fees: Fees
    state: str
    seconds_since_broadcast: float | None


def attempt_of(row) -> Attempt:
    return Attempt(row["tx_hash"], row["raw"], Fees(int(row["max_fee_per_gas"]), int(row["max_priority_fee_per_gas"])),
                   row["state"], row["seconds_since_broadcast"])


async def claim_waiting(connection, signer: str, abandoned_after_seconds: float = 60.0):
    """A waiting request, now this signer's: one it took before a crash (no nonce yet) first, then a new one,
    then one another signer took and left without a nonce that long ago (its key gone from every pool)."""
    return await connection.fetchrow(
        """UPDATE txqueue_request SET signer = $1, updated_at = now()
           WHERE id = (SELECT id FROM txqueue_request
                       WHERE state = 'queued' AND nonce IS NULL
                             AND (signer IS NULL OR signer = $1 OR updated_at < now() - make_interval(secs => $2))
                       ORDER BY (signer IS NOT DISTINCT FROM $1) DESC, (signer IS NULL) DESC, id
                       LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING *""", signer, abandoned_after_seconds)


async def release(connection, request_id: int, reason: str) -> None:
    """Back to the pool (no nonce was given): another signer, or this one later, takes it."""
    await connection.execute("UPDATE txqueue_request SET signer = NULL, reason = $2, updated_at = now() "
                             "WHERE id = $1 AND nonce IS NULL", request_id, reason)


async def fail_unsent(connection, request_id: int, reason: str) -> None:
    async with connection.transaction():
        request = await connection.fetchrow("UPDATE txqueue_request SET state = 'failed', reason = $2, "
                                            "updated_at = now() WHERE id = $1 AND nonce IS NULL RETURNING *",
                                            request_id, reason)
        if request is not None:
            await outcomes.publish(connection, request)


async def next_recorded_nonce(connection, signer: str) -> int:
    """One past the highest nonce this queue ever gave the signer (0 for a new one)."""
    return await connection.fetchval("SELECT coalesce(max(nonce) + 1, 0) FROM txqueue_request WHERE signer = $1",
                                     signer)


async def record_first_attempt(connection, request_id: int, signer: str, nonce: int, gas_limit: int,
                               tx_hash: str, raw: str, fees: Fees) -> None:
    """The nonce given and the signed transaction recorded, in one transaction, before any broadcast.

    This is the fence that makes a double send impossible even if two workers believed they managed one key:
    a request gets a nonce once (NOT NULL guard), and no two requests of a signer share one (UNIQUE); a
    worker that loses either race raises NonceTaken here and broadcasts nothing."""
    try:
        async with connection.transaction():
            updated = await connection.execute(
                "UPDATE txqueue_request SET nonce = $2, gas_limit = $3, updated_at = now() "
                "WHERE id = $1 AND signer = $4 AND nonce IS NULL", request_id, nonce, gas_limit, signer)
            if updated != "UPDATE 1":
                raise NonceTaken(f"request {request_id} was given a nonce by another worker")
            await _insert_attempt(connection, request_id, signer, nonce, tx_hash, raw, fees)
    except asyncpg.UniqueViolationError as taken:
        raise NonceTaken(f"nonce {nonce} of {signer} was given to another request") from taken


async def record_replacement(connection, request_id: int, signer: str, nonce: int, tx_hash: str, raw: str,
                             fees: Fees) -> None:
    await _insert_attempt(connection, request_id, signer, nonce, tx_hash, raw, fees)


async def _insert_attempt(connection, request_id, signer, nonce, tx_hash, raw, fees: Fees) -> None:
    await connection.execute(
        """INSERT INTO txqueue_attempt (tx_hash, request_id, signer, nonce, raw, max_fee_per_gas,
                                        max_priority_fee_per_gas) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        tx_hash, request_id, signer, nonce, raw, fees.max_fee_per_gas, fees.max_priority_fee_per_gas)


async def mark_broadcast(connection, request_id: int, tx_hash: str) -> None:
    async with connection.transaction():
        await connection.execute("UPDATE txqueue_attempt SET state = 'broadcast', broadcast_at = now() "
                                 "WHERE tx_hash = $1 AND state = 'signed'", tx_hash)
        request = await connection.fetchrow("UPDATE txqueue_request SET state = 'sent', "
                                            "updated_at = now() WHERE id = $1 AND state = 'queued' RETURNING *",
                                            request_id)
        if request is not None:  # the first broadcast (a re-broadcast or a fee bump is no new state)
            attempt = await connection.fetchrow("SELECT * FROM txqueue_attempt WHERE tx_hash = $1", tx_hash)
            await outcomes.publish(connection, request, attempt)


async def note(connection, request_id: int, reason: str) -> None:
    await connection.execute("UPDATE txqueue_request SET reason = $2, updated_at = now() WHERE id = $1",
                             request_id, reason)


async def in_flight(connection, signer: str):
    """The signer's requests holding a nonce and not settled, lowest nonce first."""
    return await connection.fetch(
        """SELECT id, nonce, gas_limit, target, calldata, value, mine_within_seconds FROM txqueue_request
           WHERE signer = $1 AND nonce IS NOT NULL AND state = ANY($2::text[]) ORDER BY nonce""",
        signer, list(IN_FLIGHT))


async def attempts(connection, request_id: int) -> list[Attempt]:
    rows = await connection.fetch(
        """SELECT tx_hash, raw, max_fee_per_gas, max_priority_fee_per_gas, state,
                  extract(epoch FROM now() - broadcast_at)::float8 AS seconds_since_broadcast
           FROM txqueue_attempt WHERE request_id = $1 ORDER BY recorded_at, max_fee_per_gas""", request_id)
    return [attempt_of(row) for row in rows]


async def settle(connection, request_id: int, state: str, reason: str, mined_hash: str | None = None,
                 block_number: int | None = None) -> None:
    """The request's outcome: its mined attempt 'mined', every other attempt 'replaced'."""
    async with connection.transaction():
        request = await connection.fetchrow(
            """UPDATE txqueue_request SET state = $2, reason = $3, mined_hash = $4, block_number = $5,
                      updated_at = now() WHERE id = $1 RETURNING *""", request_id, state, reason, mined_hash,
            block_number)
        await connection.execute(
            """UPDATE txqueue_attempt SET state = CASE WHEN tx_hash = $2 THEN 'mined' ELSE 'replaced' END
               WHERE request_id = $1""", request_id, mined_hash)
        await outcomes.publish(connection, request)


async def count_in_flight(connection, signer: str) -> int:
    return await connection.fetchval("SELECT count(*) FROM txqueue_request WHERE signer = $1 AND nonce IS NOT NULL "
                                     "AND state = ANY($2::text[])", signer, list(IN_FLIGHT))


async def unheld_nonces(connection, signer: str, start: int) -> list[int]:
    """Nonces from `start` up to the highest one given to the signer that no request holds: holes a worker
    must fill, or every later transaction of the key waits behind them forever."""
    return [row["n"] for row in await connection.fetch(
        """SELECT n FROM generate_series($2::bigint, (SELECT max(nonce) FROM txqueue_request WHERE signer = $1)) n
           WHERE NOT EXISTS (SELECT FROM txqueue_request WHERE signer = $1 AND nonce = n)""", signer, start)]


async def record_gap_filler(connection, key: str, signer: str, nonce: int, gas_limit: int, tx_hash: str, raw: str,
                            fees: Fees) -> int:
    """A request of the queue's own (an empty transfer to the signer) holding `nonce`, with its attempt."""
    async with connection.transaction():
        request_id = await connection.fetchval(
            """INSERT INTO txqueue_request (idempotency_key, requester, target, calldata, value, signer, nonce,
                                            gas_limit, reason)
               VALUES ($1, 'txqueue', $2, ''::bytea, 0, $2, $3, $4, 'fills a nonce gap') RETURNING id""",
            key, signer, nonce, gas_limit)
        await _insert_attempt(connection, request_id, signer, nonce, tx_hash, raw, fees)
    return request_id


async def settled_at_or_after(connection, signer: str, nonce: int):
    """The signer's settled requests at nonces the chain has not mined: none, unless the chain went back."""
    return await connection.fetch(
        """SELECT id, nonce, state, mined_hash FROM txqueue_request
           WHERE signer = $1 AND nonce >= $2 AND state IN ('mined', 'failed', 'replaced') ORDER BY nonce""",
        signer, nonce)


async def reopen(connection, request_id: int, reason: str) -> None:
    """Back in flight, its latest attempt to be broadcast again as recorded (same bytes, same nonce): a new
    'sent' event says so (its reason: why)."""
    async with connection.transaction():
        request = await connection.fetchrow(
            """UPDATE txqueue_request SET state = 'sent', reason = $2, mined_hash = NULL, block_number = NULL,
                      updated_at = now() WHERE id = $1 RETURNING *""", request_id, reason)
        latest = await connection.fetchrow(
            """SELECT * FROM txqueue_attempt WHERE request_id = $1
               ORDER BY recorded_at DESC, max_fee_per_gas DESC LIMIT 1""", request_id)
        await connection.execute(
            """UPDATE txqueue_attempt SET state = CASE WHEN tx_hash = $2 THEN 'signed' ELSE 'replaced' END,
                   broadcast_at = NULL
               WHERE request_id = $1""", request_id, latest["tx_hash"])
        await outcomes.publish(connection, request, latest)
