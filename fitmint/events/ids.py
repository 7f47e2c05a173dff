"""Event ids: deterministic uuid5s, so a producer that writes the same fact again (a replay, a retry, a
poll applied twice) writes the same id, and every consumer, being idempotent by id, changes nothing.
Each function here names the id of one kind of event on the bus; a producer in another language
derives them the same way (uuid5 over ID_NAMESPACE and the name shown)."""

import hashlib
import uuid

ID_NAMESPACE = uuid.UUID("6f1c3a52-8d2e-4c1b-9a57-2f0e5d3b7c41")
_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def deterministic_id(name: str) -> str:
    """uuid.uuid5(ID_NAMESPACE, name) as its string, without building UUID objects (hot path)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_id(chain_id: int, block_hash: str, log_index: int, event_type) -> str:
    """A chain event's id: its log's place in the chain, and its type (one log may give several)."""
    return deterministic_id(f"{chain_id}:{block_hash.lower()}:{log_index}:{event_type.ce_type}")


def reverted_id(original) -> str:
    """The id of the `...reverted` event that undoes the event `original`."""
    return deterministic_id(f"reverted:{original}")


def voucher_issued_id(claim_id: str) -> str:
    """One id per claim id: re-issuing the same voucher can never publish a second event."""
    return deterministic_id(f"voucher-issued:{claim_id.lower()}")


def notification_id(source_event: str, user_id: str) -> str:
    """The NotificationQueued event id of one member's notification of one source event."""
    return deterministic_id(f"notification:{source_event}:{user_id}")


def email_batch_id(kind: str, members: list[str]) -> str:
    """An EmailBatchReady id (= the batch id) from what the batch holds: the same poll's events, or the
    same retried deliveries at the same attempt, always make the same batch."""
    return deterministic_id(f"email-batch:{kind}:" + ",".join(sorted(members)))


def member_signed_in_id(user_id: str, nonce: str) -> str:
    """One sign-in of a member: its SIWE nonce is single-use."""
    return deterministic_id(f"signed-in:{user_id}:{nonce}")


def workout_recorded_id(workout_id: str) -> str:
    return deterministic_id(f"workout-recorded:{workout_id}")


def product_listed_id(product_id: str, listing_id: int) -> str:
    return deterministic_id(f"product-listed:{product_id}:{listing_id}")
