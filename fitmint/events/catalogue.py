"""The catalogue: every event type on the bus, with its topic, its key, its CloudEvents type and its
payload (fitmint/events/payloads.py).

Each outbox row (Debezium's layout: id, aggregatetype -> topic, aggregateid -> message key, type,
payload) becomes one Kafka message whose value is a CloudEvents 1.0 JSON envelope. A topic is an
aggregate: messages with one key stay in order. A payload's breaking change is a new CloudEvents type
(`....v2`); the catalogue keeps reading the old one by upcasting it (LEGACY).

The events of the platform, who produces each and which consumer group consumes it (every consumer is
idempotent by event id; see backend/app/notifications/ for the groups):
  TokenMinted, FitnessReward (claimed), OrderCreated: the indexer, from chain logs (and their
      `...reverted.v1` after a reorg) -> `fitmint-notifications`: a notification per member concerned.
  FitnessRewardIssued: the API, with the voucher it signs -> `fitmint-notifications` too.
  NotificationQueued: whoever stores a notification (that consumer, the scheduled jobs) ->
      `fitmint-deliveries`: the member's deliveries (email, SMS, DIDComm) and the live WebSocket push.
  EmailBatchReady: `fitmint-deliveries` (a poll's emails, in batches) and the senders' retry loop ->
      `fitmint-email`: one SMTP session per batch.
  TransactionSent / Mined / Failed / Replaced: the transaction queue's worker, as it records each state
      (`fitmint.transactions`, keyed by request id) -> `fitmint-analytics`.
  MemberSignedIn, WorkoutRecorded, ProductListed: the API, as it signs a wallet in, stores a workout and
      settles a listing -> `fitmint-analytics`.
Every topic is read whole by `fitmint-analytics` (analytics/): the event store and its projections.
"""

from dataclasses import dataclass
from functools import cached_property

import msgspec

from fitmint.events import payloads as p
from fitmint.events.envelope import CloudEvent


@dataclass(frozen=True)
class EventType:
    name: str
    topic: str  # the aggregate type: one topic per aggregate, ordered per key
    ce_type: str
    payload: type  # its payloads.Payload Struct
    key: str  # the payload attribute (dotted: of a nested payload) whose value is the message key

    @property
    def reverted(self) -> "EventType":
        """The compensating event a chain reorganisation publishes (keyed like the original)."""
        return EventType(f"{self.name}Reverted", self.topic, self.ce_type.removesuffix(".v1") + ".reverted.v1",
                         p.Reverted[self.payload], "original." + self.key)

    def subject(self, payload) -> str:
        """The message key (CloudEvents subject) of one of this type's payloads."""
        value = payload
        for attribute in self.key.split("."):
            value = getattr(value, attribute)
        return str(value)

    @cached_property
    def decoder(self) -> msgspec.json.Decoder:
        return msgspec.json.Decoder(self.payload)


TOKEN_MINTED = EventType("TokenMinted", "fitmint.token", "dev.fitmint.token.minted.v1", p.TokenMinted, "account")
FITNESS_REWARD = EventType("FitnessReward", "fitmint.rewards", "dev.fitmint.reward.claimed.v1", p.RewardClaimed,
                           "account")
ORDER_CREATED = EventType("OrderCreated", "fitmint.orders", "dev.fitmint.order.created.v1", p.OrderCreated,
                          "order_id")
# Only events something consumes are published. An item's metadata history stays in the indexer's
# `item_metadata` table: ItemMetadataUpdated (`fitmint.items`) had no consumer and none is planned, so
# it left the bus.
PUBLISHED = (TOKEN_MINTED, FITNESS_REWARD, ORDER_CREATED)
TOPICS = sorted({t.topic for t in PUBLISHED})

# Published through the API's outbox (same relay). A voucher was signed for an accepted workout (v2:
# camelCase, like every payload; v1 was snake_case):
REWARD_ISSUED = EventType("FitnessRewardIssued", "fitmint.rewards", "dev.fitmint.reward.issued.v2", p.RewardIssued,
                          "account")
# A notification was stored for a member (keyed by the member: their notifications stay in order):
NOTIFICATION_QUEUED = EventType("NotificationQueued", "fitmint.notifications", "dev.fitmint.notification.queued.v1",
                                p.NotificationQueued, "user_id")
# A batch of email deliveries is ready to send (keyed and identified by the batch id). A topic of its
# own: the email senders read only batches, the deliveries group only notifications.
EMAIL_BATCH_READY = EventType("EmailBatchReady", "fitmint.email", "dev.fitmint.email.batch_ready.v1",
                              p.EmailBatchReady, "batch_id")
# The transaction queue's outcomes (fitmint/txqueue/), one type per outcome, keyed by the request id: written
# in the transaction that records the state, to the outbox of the database holding the queue (the API's).
TRANSACTION_SENT = EventType("TransactionSent", "fitmint.transactions", "dev.fitmint.tx.sent.v1",
                             p.TransactionSent, "request_id")
TRANSACTION_MINED = EventType("TransactionMined", "fitmint.transactions", "dev.fitmint.tx.mined.v1",
                              p.TransactionMined, "request_id")
TRANSACTION_FAILED = EventType("TransactionFailed", "fitmint.transactions", "dev.fitmint.tx.failed.v1",
                               p.TransactionFailed, "request_id")
TRANSACTION_REPLACED = EventType("TransactionReplaced", "fitmint.transactions", "dev.fitmint.tx.replaced.v1",
                                 p.TransactionReplaced, "request_id")
TRANSACTION_OUTCOMES = {"sent": TRANSACTION_SENT, "mined": TRANSACTION_MINED, "failed": TRANSACTION_FAILED,
                        "replaced": TRANSACTION_REPLACED}
# What the analytics consumer needs besides the chain and rewards (the members, their workouts and the
# catalog's listings), published by the API in the transaction that stores each:
MEMBER_SIGNED_IN = EventType("MemberSignedIn", "fitmint.members", "dev.fitmint.member.signed_in.v1",
                             p.MemberSignedIn, "user_id")
WORKOUT_RECORDED = EventType("WorkoutRecorded", "fitmint.workouts", "dev.fitmint.workout.recorded.v1",
                             p.WorkoutRecorded, "user_id")
PRODUCT_LISTED = EventType("ProductListed", "fitmint.catalog", "dev.fitmint.catalog.product_listed.v1",
                           p.ProductListed, "product_id")
API_PUBLISHED = (REWARD_ISSUED, NOTIFICATION_QUEUED, EMAIL_BATCH_READY, *TRANSACTION_OUTCOMES.values(),
                 MEMBER_SIGNED_IN, WORKOUT_RECORDED, PRODUCT_LISTED)
ALL_TOPICS = sorted({t.topic for t in PUBLISHED + API_PUBLISHED})

# The indexer's types and their reverted events, by CloudEvents type (the reorg path looks them up).
ALL_TYPES = {t.ce_type: t for t in PUBLISHED} | {t.reverted.ce_type: t.reverted for t in PUBLISHED}
# Every type written today, by CloudEvents type.
CURRENT = ALL_TYPES | {t.ce_type: t for t in API_PUBLISHED}


@dataclass(frozen=True)
class Legacy:
    """A CloudEvents type no longer written but still read: decoded as `payload`, whose `upcast()`
    gives the current type's payload."""
    current: EventType
    payload: type

    @cached_property
    def decoder(self) -> msgspec.json.Decoder:
        return msgspec.json.Decoder(self.payload)


# Events of these types may still sit in Kafka (written before the current version): consumers read
# them as the current type.
LEGACY = {"dev.fitmint.reward.issued.v1": Legacy(REWARD_ISSUED, p.RewardIssuedV1)}


class MalformedEvent(ValueError):
    """An event whose payload does not match its type's schema."""


@dataclass(frozen=True)
class Received:
    """A consumed event: its id, its (current) type and its validated payload."""
    id: str
    type: EventType
    subject: str | None
    payload: p.Payload


def readable(*types: EventType) -> set[str]:
    """The CloudEvents types a consumer of `types` reads: theirs and their legacy versions'."""
    return {t.ce_type for t in types} | {ce for ce, legacy in LEGACY.items() if legacy.current in types}


def read(event: CloudEvent) -> Received:
    """The event's payload, validated against its type's schema (a legacy version upcast to the
    current one). MalformedEvent if it does not match, or its type is not in the catalogue."""
    event_type = CURRENT.get(event.type)
    try:
        if event_type is not None:
            payload = event_type.decoder.decode(event.data)
        elif (legacy := LEGACY.get(event.type)) is not None:
            event_type, payload = legacy.current, legacy.decoder.decode(event.data).upcast()
        else:
            raise MalformedEvent(f"{event.type!r} is not a type of the event catalogue")
    except msgspec.DecodeError as exc:  # ValidationError included
        raise MalformedEvent(f"{event.type}: {exc}") from None
    return Received(event.id, event_type, event.subject, payload)
