"""A CloudEvent as the store takes it: from a Kafka record (the consumer, a replay) or from the store's
own document (a rebuild). One function reads both, so the two paths derive the same fact."""

import logging
from datetime import UTC, datetime

import msgspec

from analytics.store import Incoming, is_event_id
from fitmint import events as ev

log = logging.getLogger("analytics")


def event_time(event: ev.CloudEvent, fallback: datetime) -> datetime:
    if event.time:
        try:
            return datetime.fromisoformat(event.time)
        except ValueError:
            log.warning("event %s: unreadable time %r, the record's used", event.id, event.time)
    return fallback


def incoming_of(value: bytes | str, *, topic: str, fallback_time: datetime, partition: int | None = None,
                offset: int | None = None) -> Incoming | None:
    """The event in `value`; None (logged) if it is not a CloudEvent with a uuid id. A payload that does
    not validate is stored unreadable (logged): the store keeps every event, and it gives no fact."""
    try:
        event = ev.parse(value)
    except (msgspec.DecodeError, TypeError):
        log.error("skipping a record that is not a CloudEvent: %s[%s]@%s", topic, partition, offset)
        return None
    if not is_event_id(event.id):
        log.error("skipping event %r (%s): its id is not a uuid", event.id, event.type)
        return None
    readable, reverts = False, None
    try:
        received = ev.read(event)
        readable = True
    except ev.MalformedEvent as exc:
        if event.type in _KNOWN:
            log.error("event %s is malformed, stored without a fact: %s", event.id, exc)
    else:
        if isinstance(received.payload, ev.Reverted):
            reverts = received.payload.reverts
    document = value.decode() if isinstance(value, bytes) else value
    return Incoming(event.id, event.type, event.subject, event_time(event, fallback_time), topic, document,
                    readable, reverts, partition, offset)


_KNOWN = set(ev.CURRENT) | set(ev.LEGACY)


def from_record(record) -> Incoming | None:
    """A Kafka record's event (its timestamp, ms since the epoch, when the event has no time)."""
    return incoming_of(record.value, topic=record.topic, partition=record.partition, offset=record.offset,
                       fallback_time=datetime.fromtimestamp(record.timestamp / 1000, UTC))
