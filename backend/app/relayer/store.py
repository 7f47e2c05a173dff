"""Relay records and the state a member reads. A relay's own row says waiting, batched or failed; once
batched, its batch's transaction queue request says the rest (one source of truth for what was sent):

    waiting  -> batched (in a queue request not sent yet) -> sent -> mined (tx hash, block)
                                                                   \\-> failed (reason)
A claim whose batch failed goes back to waiting (the batcher excludes what made it fail) until it has
failed `relayer_claim_attempts` batches; while the batcher has not applied the outcome yet it still reads
batched, with the batch's reason."""

RELAY_COLUMNS = """r.id, r.kind, r.tenant_id::text, r.user_id::text, r.claim_id, r.buyer, r.intent_nonce, r.state,
    r.reason, r.batch_id, r.failed_batches, r.created_at, r.updated_at, q.id AS request_id, q.state AS request_state,
    q.reason AS request_reason, q.mined_hash, q.block_number"""
RELAY_FROM = """relays r LEFT JOIN relay_batches b ON b.id = r.batch_id
    LEFT JOIN txqueue_request q ON q.id = b.request_id"""


def public_state(row) -> dict:
    """The relay as a member reads it: its state, the reason, and the transaction once mined."""
    state, reason = row["state"], row["reason"]
    tx_hash = block = None
    if state == "batched":
        request_state = row["request_state"]
        if request_state == "sent":
            state = "sent"
        elif request_state == "mined":
            state, tx_hash, block = "mined", row["mined_hash"], row["block_number"]
        elif request_state in ("failed", "replaced"):  # the batcher applies it within a pass
            reason = f"its transaction {request_state}: {row['request_reason']}"
    return {"id": row["id"], "kind": row["kind"], "state": state, "reason": reason, "claim_id": row["claim_id"],
            "buyer": row["buyer"],
            "intent_nonce": None if row["intent_nonce"] is None else str(int(row["intent_nonce"])),
            "transaction_request": row["request_id"], "tx_hash": tx_hash, "block_number": block,
            "failed_batches": row["failed_batches"], "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(), "tenant_id": row["tenant_id"], "user_id": row["user_id"]}


async def by_id(connection, relay_id: int):
    return await connection.fetchrow(f"SELECT {RELAY_COLUMNS} FROM {RELAY_FROM} WHERE r.id = $1", relay_id)


async def by_claims(connection, claim_ids: list[str]) -> dict[str, dict]:
    rows = await connection.fetch(f"SELECT {RELAY_COLUMNS} FROM {RELAY_FROM} WHERE r.claim_id = ANY($1::text[])",
                                  claim_ids)
    return {row["claim_id"]: public_state(row) for row in rows}
