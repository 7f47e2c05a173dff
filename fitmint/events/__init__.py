"""The event catalogue: every event type with its topic, key, CloudEvents type and typed payload; event
ids; the CloudEvents envelope. `from fitmint import events as ev` gives all of it."""

from fitmint.events.catalogue import (
    ALL_TOPICS,
    ALL_TYPES,
    API_PUBLISHED,
    CURRENT,
    EMAIL_BATCH_READY,
    FITNESS_REWARD,
    LEGACY,
    NOTIFICATION_QUEUED,
    ORDER_CREATED,
    PUBLISHED,
    REWARD_ISSUED,
    TOKEN_MINTED,
    TOPICS,
    TRANSACTION_FAILED,
    TRANSACTION_MINED,
    TRANSACTION_OUTCOMES,
    TRANSACTION_REPLACED,
    TRANSACTION_SENT,
    EventType,
    MalformedEvent,
    Received,
    read,
    readable,
)
from fitmint.events.envelope import SPEC_VERSION, CloudEvent, envelope, parse, source
from fitmint.events.ids import (
    ID_NAMESPACE,
    deterministic_id,
    email_batch_id,
    event_id,
    notification_id,
    reverted_id,
    voucher_issued_id,
)
from fitmint.events.payloads import (
    EmailBatchReady,
    NotificationQueued,
    OrderCreated,
    Payload,
    Reverted,
    RewardClaimed,
    RewardIssued,
    TokenMinted,
    TransactionFailed,
    TransactionMined,
    TransactionOutcome,
    TransactionReplaced,
    TransactionSent,
)

__all__ = [
    "ALL_TOPICS", "ALL_TYPES", "API_PUBLISHED", "CURRENT", "EMAIL_BATCH_READY", "FITNESS_REWARD", "LEGACY",
    "NOTIFICATION_QUEUED", "ORDER_CREATED", "PUBLISHED", "REWARD_ISSUED", "TOKEN_MINTED", "TOPICS",
    "TRANSACTION_FAILED", "TRANSACTION_MINED", "TRANSACTION_OUTCOMES", "TRANSACTION_REPLACED", "TRANSACTION_SENT",
    "EventType",
    "MalformedEvent", "Received", "read", "readable", "SPEC_VERSION", "CloudEvent", "envelope", "parse", "source",
    "ID_NAMESPACE", "deterministic_id", "email_batch_id", "event_id", "notification_id", "reverted_id",
    "voucher_issued_id", "EmailBatchReady", "NotificationQueued", "OrderCreated", "Payload", "Reverted",
    "RewardClaimed", "RewardIssued", "TokenMinted", "TransactionFailed", "TransactionMined", "TransactionOutcome",
    "TransactionReplaced", "TransactionSent"]
