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


async def claim_waiting(connection, signer: str, limit: int = 1, abandoned_after_seconds: float = 60.0) -> list:
    """Up to `limit` waiting requests, now this signer's, oldest first: ones it took before a crash (no nonce
    yet) first, then new ones, then ones another signer took and left without a nonce that long ago (its
    key gone from every pool). One statement: a chunk costs one round trip."""
    rows = await connection.fetch(
        """UPDATE txqueue_request r SET signer = $1, updated_at = now()
           FROM (SELECT id FROM txqueue_request
                 WHERE state = 'queued' AND nonce IS NULL
                       AND (signer IS NULL OR signer = $1 OR updated_at < now() - make_interval(secs => $2))
                 ORDER BY (signer IS NOT DISTINCT FROM $1) DESC, (signer IS NULL) DESC, id
                 LIMIT $3 FOR UPDATE SKIP LOCKED) waiting
           WHERE r.id = waiting.id
           RETURNING r.*""", signer, abandoned_after_seconds, limit)
    return sorted(rows, key=lambda row: row["id"])


async def release(connection, request_ids: list[int], reason: str) -> None:
    """Back to the pool (no nonce was given): another signer, or this one later, takes them."""
    await connection.execute("UPDATE txqueue_request SET signer = NULL, reason = $2, updated_at = now() "
                             "WHERE id = ANY($1::bigint[]) AND nonce IS NULL", request_ids, reason)


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


@dataclass(frozen=True)
class NewAttempt:
    request_id: int
    nonce: int
    gas_limit: int | None  # None: a replacement (the request keeps its gas limit)
    tx_hash: str
    raw: str
    fees: Fees


async def record_first_attempts(connection, signer: str, attempts: list[NewAttempt]) -> None:
    """The nonces given and the signed transactions recorded, all in one transaction, before any broadcast.

    This is the fence that makes a double send impossible even if two workers believed they managed one key:
    a request gets a nonce once (NOT NULL guard), and no two requests of a signer share one (UNIQUE); a
    worker that loses either race for any request of the chunk raises NonceTaken here, records none of them
    and broadcasts nothing."""
    if not attempts:
        return
    try:
        async with connection.transaction():
            updated = await connection.execute(
                """UPDATE txqueue_request r SET nonce = given.nonce, gas_limit = given.gas_limit, updated_at = now()
                   FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS given (id, nonce, gas_limit)
                   WHERE r.id = given.id AND r.signer = $4 AND r.nonce IS NULL""",
                [a.request_id for a in attempts], [a.nonce for a in attempts], [a.gas_limit for a in attempts],
                signer)
            if updated != f"UPDATE {len(attempts)}":
                raise NonceTaken(f"a request of {[a.request_id for a in attempts]} was given a nonce by another "
                                 f"worker")
            await _insert_attempts(connection, signer, attempts)
    except asyncpg.UniqueViolationError as taken:
        raise NonceTaken(f"a nonce of {[a.nonce for a in attempts]} of {signer} was given to another "
                         f"request") from taken


async def record_replacements(connection, signer: str, attempts: list[NewAttempt]) -> None:
    """Fee bumps at their requests' nonces, recorded before they are broadcast."""
    await _insert_attempts(connection, signer, attempts)


async def _insert_attempts(connection, signer: str, attempts: list[NewAttempt]) -> None:
    await connection.execute(
        """INSERT INTO txqueue_attempt (tx_hash, request_id, signer, nonce, raw, max_fee_per_gas,
                                        max_priority_fee_per_gas)
           SELECT tx_hash, request_id, $1, nonce, raw, max_fee, tip
           FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::numeric[], $7::numeric[])
                AS a (tx_hash, request_id, nonce, raw, max_fee, tip)""",
        signer, [a.tx_hash for a in attempts], [a.request_id for a in attempts], [a.nonce for a in attempts],
        [a.raw for a in attempts], [a.fees.max_fee_per_gas for a in attempts],
        [a.fees.max_priority_fee_per_gas for a in attempts])


async def mark_broadcast(connection, sent: list[tuple[int, str]]) -> None:
    """The node took these transactions ((request id, tx hash) each): their attempts 'broadcast', and each
    request's first broadcast makes it 'sent' (a re-broadcast or a fee bump is no new state), in one
    transaction with its event."""
    if not sent:
        return
    async with connection.transaction():
        await connection.execute("UPDATE txqueue_attempt SET state = 'broadcast', broadcast_at = now() "
                                 "WHERE tx_hash = ANY($1::text[]) AND state = 'signed'", [h for _, h in sent])
        requests = await connection.fetch("UPDATE txqueue_request SET state = 'sent', updated_at = now() "
                                          "WHERE id = ANY($1::bigint[]) AND state = 'queued' RETURNING *",
                                          [request_id for request_id, _ in sent])
        if requests:
            hash_of = dict(sent)
            attempts = {row["tx_hash"]: row for row in await connection.fetch(
                "SELECT * FROM txqueue_attempt WHERE tx_hash = ANY($1::text[])",
                [hash_of[row["id"]] for row in requests])}
            await outcomes.publish_many(connection, [(row, attempts[hash_of[row["id"]]])
                                                     for row in sorted(requests, key=lambda row: row["id"])])


async def note(connection, request_id: int, reason: str) -> None:
    await connection.execute("UPDATE txqueue_request SET reason = $2, updated_at = now() WHERE id = $1",
                             request_id, reason)


async def in_flight(connection, signer: str) -> list[tuple]:
    """The signer's requests holding a nonce and not settled, lowest nonce first, each with its attempts
    (oldest first): two queries, whatever their number."""
    requests = await connection.fetch(
        """SELECT id, nonce, gas_limit, target, calldata, value, mine_within_seconds FROM txqueue_request
           WHERE signer = $1 AND nonce IS NOT NULL AND state = ANY($2::text[]) ORDER BY nonce""",
        signer, list(IN_FLIGHT))
    if not requests:
        return []
    by_request = {row["id"]: [] for row in requests}
    for row in await connection.fetch(
            """SELECT request_id, tx_hash, raw, max_fee_per_gas, max_priority_fee_per_gas, state,
                      extract(epoch FROM now() - broadcast_at)::float8 AS seconds_since_broadcast
               FROM txqueue_attempt WHERE request_id = ANY($1::bigint[])
               ORDER BY request_id, recorded_at, max_fee_per_gas""", list(by_request)):
        by_request[row["request_id"]].append(attempt_of(row))
    return [(request, by_request[request["id"]]) for request in requests]


@dataclass(frozen=True)
class Outcome:
    request_id: int
    state: str  # mined | failed | replaced
    reason: str
    mined_hash: str | None = None
    block_number: int | None = None


async def settle(connection, request_id: int, state: str, reason: str, mined_hash: str | None = None,
                 block_number: int | None = None) -> None:
    await settle_many(connection, [Outcome(request_id, state, reason, mined_hash, block_number)])


async def settle_many(connection, settled: list[Outcome]) -> None:
    """The requests' outcomes, in one transaction: each mined attempt 'mined', every other attempt 'replaced'."""
    if not settled:
        return
    async with connection.transaction():
        requests = await connection.fetch(
            """UPDATE txqueue_request r SET state = o.state, reason = o.reason, mined_hash = o.mined_hash,
                      block_number = o.block_number, updated_at = now()
               FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                    AS o (id, state, reason, mined_hash, block_number)
               WHERE r.id = o.id RETURNING r.*""",
            [o.request_id for o in settled], [o.state for o in settled], [o.reason for o in settled],
            [o.mined_hash for o in settled], [o.block_number for o in settled])
        await connection.execute(
            """UPDATE txqueue_attempt a SET state = CASE WHEN a.tx_hash = o.mined_hash THEN 'mined' ELSE 'replaced' END
               FROM unnest($1::bigint[], $2::text[]) AS o (id, mined_hash) WHERE a.request_id = o.id""",
            [o.request_id for o in settled], [o.mined_hash for o in settled])
        await outcomes.publish_many(connection, [(row, None) for row in sorted(requests, key=lambda r: r["id"])])


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
        await _insert_attempts(connection, signer, [NewAttempt(request_id, nonce, gas_limit, tx_hash, raw, fees)])
    return request_id


async def settled_at_or_after(connection, signer: str, nonce: int):
    """The signer's settled requests at nonces the chain has not mined: none, unless the chain went back."""
    return await connection.fetch(
        """SELECT id, nonce, state, mined_hash FROM txqueue_request
           WHERE signer = $1 AND nonce >= $2 AND state IN ('mined', 'failed', 'replaced') ORDER BY nonce""",
        signer, nonce)


async def settled_in_blocks(connection, signer: str, first_block: int, blocks: list[int] | None = None):
    """The signer's requests settled by a receipt (mined, or reverted on chain) in blocks from `first_block`
    on, or in `blocks` only: what a reorg of those blocks may undo."""
    return await connection.fetch(
        """SELECT id, nonce, state, mined_hash, block_number FROM txqueue_request
           WHERE signer = $1 AND state IN ('mined', 'failed') AND mined_hash IS NOT NULL AND block_number >= $2
                 AND ($3::bigint[] IS NULL OR block_number = ANY($3::bigint[]))
           ORDER BY nonce""", signer, first_block, blocks)


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
