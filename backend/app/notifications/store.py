"""The inbox: a member's notification stored once per source event, with its out-of-band deliveries
(chosen by the member's preferences) and its NotificationQueued event, all in the caller's transaction;
and the live push of a stored notification to the member's WebSocket connections (Redis pub/sub)."""

from dataclasses import dataclass, field
from datetime import datetime

import orjson

from backend.app.users.models import Channel, Preferences
from indexer import events as ev

PUSH_CHANNEL = "fitmint:notify:"  # + user id: what the API's WebSocket hub subscribes to


@dataclass(frozen=True)
class Draft:
    kind: str
    title: str
    body: str
    data: dict = field(default_factory=dict)
    corrects: str | None = None  # source event of the notification this one corrects (a reverted event)


@dataclass(frozen=True)
class Queued:
    notification: dict
    push: bool  # the member wants WebSocket pushes


def preferences_of(raw) -> Preferences:
    """A stored preferences document (jsonb, possibly empty) with its defaults filled in."""
    if isinstance(raw, (str, bytes)):
        raw = orjson.loads(raw)
    return Preferences.model_validate(raw or {})


async def queue(connection, *, tenant_id: str, user_id: str, source_event: str, draft: Draft,
                preferences: Preferences, batch_id: str | None = None) -> Queued | None:
    """Stores `draft` for the member unless they already have a notification of `source_event`
    (then None: the event was handled before). Must run inside the caller's transaction."""
    row = await connection.fetchrow(
        # clock_timestamp(), not now(): notifications stored in one transaction keep their order.
        "INSERT INTO notifications (tenant_id, user_id, source_event, kind, title, body, data, created_at, corrects) "
        "VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, $7::jsonb, clock_timestamp(), "
        "        (SELECT id FROM notifications WHERE user_id = $2::uuid AND source_event = $8::uuid)) "
        "ON CONFLICT (user_id, source_event) DO NOTHING "
        "RETURNING id, kind, title, body, data::text AS data, corrects, created_at, read_at",
        tenant_id, user_id, source_event, draft.kind, draft.title, draft.body,
        orjson.dumps(draft.data).decode(), draft.corrects)
    if row is None:
        return None
    channels = set(preferences.notification_channels)
    deliveries = []
    if Channel.EMAIL in channels and preferences.email:
        deliveries.append(("email", preferences.email))
    if Channel.SMS in channels and preferences.phone:
        deliveries.append(("sms", preferences.phone))
    if deliveries:
        await connection.executemany(
            "INSERT INTO deliveries (notification_id, channel, address, batch_id) VALUES ($1, $2, $3, $4::uuid)",
            [(row["id"], channel, address, batch_id) for channel, address in deliveries])
    notification = wire(row)
    payload = {"notificationId": notification["id"], "userId": str(user_id), "tenantId": str(tenant_id),
               "kind": draft.kind, "sourceEvent": str(source_event), "corrects": notification["corrects"],
               "channels": sorted(str(c) for c in channels)}
    await connection.execute(
        "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, event_time) "
        "VALUES ($1::uuid, $2, $3, $4, $5::json, $6)",
        ev.notification_id(str(source_event), str(user_id)), ev.NOTIFICATION_QUEUED.topic, str(user_id),
        ev.NOTIFICATION_QUEUED.ce_type, orjson.dumps(payload).decode(), row["created_at"])
    return Queued(notification, push=Channel.WEBSOCKET in channels)


def wire(row) -> dict:
    """A stored notification as the API and the WebSocket send it."""
    data = row["data"]
    created: datetime = row["created_at"]
    return {"id": str(row["id"]), "kind": row["kind"], "title": row["title"], "body": row["body"],
            "data": orjson.loads(data) if isinstance(data, str) else data,
            "corrects": str(row["corrects"]) if row["corrects"] else None,
            "created_at": created.isoformat(), "read": row["read_at"] is not None}


async def push(redis, user_id: str, notifications: list[dict]) -> None:
    """Live delivery to the member's open WebSocket connections (any API process). Best effort: a
    member who is offline, or a lost publish, gets them from the inbox on (re)connect."""
    if notifications:
        await redis.publish(PUSH_CHANNEL + str(user_id), orjson.dumps(notifications))
