"""Submitting a transaction: one request per idempotency key, forever."""

from dataclasses import dataclass

from eth_utils import is_address


class IdempotencyConflict(Exception):
    """The idempotency key is already taken by a request with a different payload."""


@dataclass(frozen=True)
class TransactionRequest:
    idempotency_key: str
    requester: str  # who asked: a service, a job, a member's id
    target: str
    calldata: bytes = b""
    value: int = 0
    mine_within_seconds: float | None = None  # default: the worker's
    tenant_id: str | None = None  # the API's tenant whose admins may read it (None: the platform's own)

    def __post_init__(self):
        if not is_address(self.target):
            raise ValueError(f"not an address: {self.target!r}")
        if self.value < 0:
            raise ValueError("a negative value")


async def submit(connection, request: TransactionRequest) -> int:
    """The request's id: a new one, or the existing one when the key was submitted before with the same
    payload. The same key with a different payload raises IdempotencyConflict."""
    return (await submit_once(connection, request))[0]


async def submit_once(connection, request: TransactionRequest) -> tuple[int, bool]:
    """`submit`, and whether this call created the request (False: the key's earlier request)."""
    target = request.target.lower()
    new_id = await connection.fetchval(
        """INSERT INTO txqueue_request (idempotency_key, requester, tenant_id, target, calldata, value,
                                        mine_within_seconds)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        request.idempotency_key, request.requester, request.tenant_id, target, request.calldata, request.value,
        request.mine_within_seconds)
    if new_id is not None:
        return new_id, True
    existing = await connection.fetchrow(
        "SELECT id, requester, tenant_id, target, calldata, value FROM txqueue_request WHERE idempotency_key = $1",
        request.idempotency_key)
    if (existing["requester"], existing["tenant_id"], existing["target"], bytes(existing["calldata"]),
            int(existing["value"])) != (request.requester, request.tenant_id, target, request.calldata,
                                        request.value):
        raise IdempotencyConflict(f"idempotency key {request.idempotency_key!r} was submitted with another payload "
                                  f"(request {existing['id']})")
    return existing["id"], False


async def submit_many(connection, requests: list[TransactionRequest]) -> list[int]:
    """`submit` for many requests in one statement: their ids, in order. All or nothing: a key submitted
    before with another payload raises IdempotencyConflict and none of the list is created. A key twice
    in the list is one request (with another payload: IdempotencyConflict)."""
    rows = [(r.idempotency_key, r.requester, r.tenant_id, r.target.lower(), r.calldata, r.value,
             r.mine_within_seconds) for r in requests]
    first_of = {}
    for row in rows:
        if first_of.setdefault(row[0], row)[:6] != row[:6]:
            raise IdempotencyConflict(f"idempotency key {row[0]!r} is twice in the list with different payloads")
    if not rows:
        return []
    async with connection.transaction():
        found = await connection.fetch(_SUBMIT_MANY, *(list(column) for column in zip(*rows, strict=True)))
        ids = []
        for (key, requester, tenant_id, target, calldata, value, _), row in zip(rows, found, strict=True):
            if row["id"] is None:  # submitted by a transaction that committed while this statement ran
                ids.append(await submit(connection, requests[len(ids)]))
                continue
            if not row["created"] and (row["requester"], row["tenant_id"], row["target"], bytes(row["calldata"]),
                                       int(row["value"])) != (requester, tenant_id, target, calldata, value):
                raise IdempotencyConflict(f"idempotency key {key!r} was submitted with another payload "
                                          f"(request {row['id']})")
            ids.append(row["id"])
    return ids


# The requests inserted (a key already there: nothing), and per given row, in order, its request's id and
# (for a key submitted before) that request's payload to compare.
_SUBMIT_MANY = """
WITH given AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::numeric[], $7::float8[])
                  WITH ORDINALITY AS g (idempotency_key, requester, tenant_id, target, calldata, value,
                                        mine_within_seconds, position)),
inserted AS (
    INSERT INTO txqueue_request (idempotency_key, requester, tenant_id, target, calldata, value, mine_within_seconds)
    SELECT idempotency_key, requester, tenant_id, target, calldata, value, mine_within_seconds FROM given
    ORDER BY position
    ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key)
SELECT coalesce(i.id, t.id) AS id, i.id IS NOT NULL AS created, t.requester, t.tenant_id, t.target, t.calldata,
       t.value
FROM given g LEFT JOIN inserted i ON i.idempotency_key = g.idempotency_key
             LEFT JOIN txqueue_request t ON t.idempotency_key = g.idempotency_key AND i.id IS NULL
ORDER BY g.position"""


async def status(connection, request_id: int) -> dict | None:
    """The request's state and reason, with its signer, nonce and mined transaction, and what it calls
    (target, calldata, value: a caller applying the outcome reads what the request did)."""
    row = await connection.fetchrow(
        """SELECT id, idempotency_key, requester, state, reason, signer, nonce, mined_hash, block_number,
                  target, calldata, value
           FROM txqueue_request WHERE id = $1""", request_id)
    return dict(row) if row is not None else None
