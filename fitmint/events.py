"""The events the indexer publishes: the one module that defines their types, topics and envelope.

Each row of the outbox (Debezium's layout: id, aggregatetype -> topic, aggregateid -> message key,
type, payload) becomes one Kafka message whose value is a CloudEvents 1.0 JSON envelope. Ids are
deterministic (uuid5 over chain id, block hash, log index and type), so a replay publishes the same
ids, and a block that is reorged away gets a `...reverted.v1` event naming the id it undoes.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import orjson

ID_NAMESPACE = uuid.UUID("6f1c3a52-8d2e-4c1b-9a57-2f0e5d3b7c41")
_NAMESPACE_BYTES = ID_NAMESPACE.bytes
SPEC_VERSION = "1.0"


@dataclass(frozen=True)
class EventType:
    name: str
    topic: str  # the aggregate type: one topic per aggregate, ordered per key
    ce_type: str

    @property
    def reverted(self) -> "EventType":
        return EventType(f"{self.name}Reverted", self.topic, self.ce_type.removesuffix(".v1") + ".reverted.v1")


# The events of the platform, who produces each and which consumer group consumes it (every consumer
# is idempotent by event id; see backend/app/notifications/ for the groups):
#   TokenMinted, FitnessReward (claimed), OrderCreated: the indexer, from chain logs (and their
#       `...reverted.v1` after a reorg) -> `fitmint-notifications`: a notification per member concerned.
#   FitnessRewardIssued: the API, with the voucher it signs -> `fitmint-notifications` too.
#   NotificationQueued: whoever stores a notification (that consumer, the scheduled jobs) ->
#       `fitmint-deliveries`: the member's deliveries (email, SMS, DIDComm) and the live WebSocket push.
#   EmailBatchReady: `fitmint-deliveries` (a poll's emails, in batches) and the senders' retry loop ->
#       `fitmint-email`: one SMTP session per batch.
TOKEN_MINTED = EventType("TokenMinted", "fitmint.token", "dev.fitmint.token.minted.v1")
FITNESS_REWARD = EventType("FitnessReward", "fitmint.rewards", "dev.fitmint.reward.claimed.v1")
ORDER_CREATED = EventType("OrderCreated", "fitmint.orders", "dev.fitmint.order.created.v1")
# Only events something consumes are published. An item's metadata history stays in the indexer's
# `item_metadata` table: ItemMetadataUpdated (`fitmint.items`) had no consumer and none is planned, so
# it left the bus.
PUBLISHED = (TOKEN_MINTED, FITNESS_REWARD, ORDER_CREATED)
ALL_TYPES = {t.ce_type: t for t in PUBLISHED} | {t.reverted.ce_type: t.reverted for t in PUBLISHED}
TOPICS = sorted({t.topic for t in PUBLISHED})

# Published through the API's outbox (same relay). A voucher was signed for an accepted workout:
REWARD_ISSUED = EventType("FitnessRewardIssued", "fitmint.rewards", "dev.fitmint.reward.issued.v1")
# A notification was stored for a member (keyed by the member: their notifications stay in order):
NOTIFICATION_QUEUED = EventType("NotificationQueued", "fitmint.notifications", "dev.fitmint.notification.queued.v1")
# A batch of email deliveries is ready to send (keyed and identified by the batch id). A topic of its
# own: the email senders read only batches, the deliveries group only notifications.
EMAIL_BATCH_READY = EventType("EmailBatchReady", "fitmint.email", "dev.fitmint.email.batch_ready.v1")
API_PUBLISHED = (REWARD_ISSUED, NOTIFICATION_QUEUED, EMAIL_BATCH_READY)
ALL_TOPICS = sorted({t.topic for t in PUBLISHED + API_PUBLISHED})


def _uuid5(name: str) -> str:
    """uuid.uuid5(ID_NAMESPACE, name) as its string, without building UUID objects (hot path)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_id(chain_id: int, block_hash: str, log_index: int, event_type: EventType) -> str:
    return _uuid5(f"{chain_id}:{block_hash.lower()}:{log_index}:{event_type.ce_type}")


def reverted_id(original) -> str:
    return _uuid5(f"reverted:{original}")


def voucher_issued_id(claim_id: str) -> str:
    """One id per claim id: re-issuing the same voucher can never publish a second event."""
    return _uuid5(f"voucher-issued:{claim_id.lower()}")


def notification_id(source_event: str, user_id: str) -> str:
    """The NotificationQueued event id of one member's notification of one source event."""
    return _uuid5(f"notification:{source_event}:{user_id}")


def email_batch_id(kind: str, members: list[str]) -> str:
    """An EmailBatchReady id (= the batch id) from what the batch holds: the same poll's events, or the
    same retried deliveries at the same attempt, always make the same batch."""
    return _uuid5(f"email-batch:{kind}:" + ",".join(sorted(members)))


def job_key(*parts) -> str:
    """A scheduled job's deterministic source-event id (e.g. a reminder's user, local date and time)."""
    return _uuid5("job:" + ":".join(str(part) for part in parts))


def source(chain_id: int, producer: str = "indexer") -> str:
    return f"/fitmint/{producer}/chain/{chain_id}"


def envelope(*, id, ce_type: str, chain_id: int, subject: str, time: datetime | None, data: dict,
             producer: str = "indexer") -> bytes:
    """The CloudEvents structured-mode JSON of one event."""
    document = {
        "specversion": SPEC_VERSION,
        "id": str(id),
        "source": source(chain_id, producer),
        "type": ce_type,
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }
    if time is not None:
        document["time"] = time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return orjson.dumps(document)
