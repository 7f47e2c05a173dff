"""A request's states as events (the catalogue's TransactionSent / Mined / Failed / Replaced), appended to the
outbox of the queue's own database in the transaction that records the state (store.py): an outcome is
published exactly when it is recorded, and never when the transaction that recorded it rolled back.

The queue's database is the API's (its migrations create both the queue's tables and the kernel's outbox),
so the API's outbox relay publishes them to `fitmint.transactions`, keyed by request id."""

from fitmint import events as ev
from fitmint.events.ids import deterministic_id
from fitmint.outbox.append import Outgoing, append


def outcome_id(request_id: int, state: str, changed_at) -> str:
    """One event per state change: the request, the state and when it was recorded (the request's updated_at,
    in microseconds since the epoch), so a request sent again after the chain went back publishes again."""
    return deterministic_id(f"txqueue:{request_id}:{state}:{int(changed_at.timestamp() * 1_000_000)}")


def payload_of(request, attempt=None) -> ev.TransactionOutcome:
    """The event payload of a request row (`txqueue_request`, as UPDATE ... RETURNING * gives it) in its
    state; a 'sent' one needs the attempt (`txqueue_attempt` row) the node took."""
    common = dict(request_id=request["id"], idempotency_key=request["idempotency_key"],
                  requester=request["requester"], target=request["target"], reason=request["reason"] or "",
                  signer=request["signer"] if request["nonce"] is not None else None, nonce=request["nonce"])
    state = request["state"]
    if state == "sent":
        return ev.TransactionSent(**common, tx_hash=attempt["tx_hash"],
                                  max_fee_per_gas=str(int(attempt["max_fee_per_gas"])),
                                  max_priority_fee_per_gas=str(int(attempt["max_priority_fee_per_gas"])))
    if state == "mined":
        return ev.TransactionMined(**common, tx_hash=request["mined_hash"], block_number=request["block_number"])
    if state == "failed":
        return ev.TransactionFailed(**common, tx_hash=request["mined_hash"], block_number=request["block_number"])
    if state == "replaced":
        return ev.TransactionReplaced(**common)
    raise ValueError(f"no event for state {state!r}")


async def publish(connection, request, attempt=None) -> None:
    """Appends the request's current state to the outbox, in the caller's transaction."""
    await publish_many(connection, [(request, attempt)])


async def publish_many(connection, changed: list[tuple]) -> None:
    """`publish` for many (request, attempt or None) pairs, in order, in one statement."""
    await append(connection, [Outgoing(outcome_id(request["id"], request["state"], request["updated_at"]),
                                       ev.TRANSACTION_OUTCOMES[request["state"]], payload_of(request, attempt),
                                       time=request["updated_at"]) for request, attempt in changed])
