"""The inbox: a member's notification stored once per source event, with its out-of-band deliveries
(chosen by the member's preferences) and its NotificationQueued event, all in the caller's transaction;
and the live push of a stored notification to the member's WebSocket connections (Redis pub/sub)."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from backend.app.users.models import Channel, Preferences
from indexer import events as ev

log = logging.getLogger("notifications.store")
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
    user_id: str = ""
    email: bool = False  # an email delivery was queued


def preferences_of(raw) -> Preferences:
    """A stored preferences document (jsonb, possibly empty) with its defaults filled in."""
    if isinstance(raw, (str, bytes)):
        raw = orjson.loads(raw)
    return Preferences.model_validate(raw or {})


@dataclass(frozen=True)
class Pending:
    """One notification to store: for whom, from which source event, what, and their preferences."""
    tenant_id: str
    user_id: str
    source_event: str
    draft: Draft
    preferences: Preferences
    batch_id: str | None = None


async def queue(connection, *, tenant_id: str, user_id: str, source_event: str, draft: Draft,
                preferences: Preferences, batch_id: str | None = None) -> Queued | None:
    """Stores `draft` for the member unless they already have a notification of `source_event`
    (then None: the event was handled before). Must run inside the caller's transaction."""
    stored = await queue_many(connection, [Pending(str(tenant_id), str(user_id), str(source_event), draft,
                                                   preferences, batch_id)])
    return stored[0] if stored else None


async def queue_many(connection, items: list[Pending]) -> list[Queued]:
    """`queue` for many notifications in three statements (notifications, deliveries, outbox), in the
    order given; returns those that were new. Must run inside the caller's transaction."""
    if not items:
        return []
    rows = await connection.fetch(
        # clock_timestamp(), not now(): notifications stored in one transaction keep their order.
        "INSERT INTO notifications (tenant_id, user_id, source_event, kind, title, body, data, created_at, corrects) "
        "SELECT i.tenant_id, i.user_id, i.source_event, i.kind, i.title, i.body, i.data, clock_timestamp(), "
        "       (SELECT n.id FROM notifications n WHERE n.user_id = i.user_id AND n.source_event = i.corrects) "
        "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::uuid[]) "
        "     WITH ORDINALITY AS i(tenant_id, user_id, source_event, kind, title, body, data, corrects, position) "
        "ORDER BY i.position "
        "ON CONFLICT (user_id, source_event) DO NOTHING "
        "RETURNING id, user_id, source_event, kind, title, body, data::text AS data, corrects, created_at, read_at",
        [i.tenant_id for i in items], [i.user_id for i in items], [i.source_event for i in items],
        [i.draft.kind for i in items], [i.draft.title for i in items], [i.draft.body for i in items],
        [orjson.dumps(i.draft.data).decode() for i in items], [i.draft.corrects for i in items])
    if not rows:
        return []
    stored = {(str(row["user_id"]), str(row["source_event"])): row for row in rows}
    # DIDComm: the member's most recent active connection (identity) is the address.
    didcomm_users = list({i.user_id for i in items if Channel.DIDCOMM in i.preferences.notification_channels})
    didcomm = {str(r["user_id"]): r["connection_id"] for r in await connection.fetch(
        "SELECT DISTINCT ON (user_id) user_id, connection_id FROM didcomm_connections "
        "WHERE user_id = ANY($1::uuid[]) AND state IN ('active', 'completed') ORDER BY user_id, updated_at DESC",
        didcomm_users)} if didcomm_users else {}
    queued, deliveries, outbox = [], [], []
    for item in items:
        row = stored.pop((item.user_id, item.source_event), None)
        if row is None:
            continue
        channels = set(item.preferences.notification_channels)
        emailed = Channel.EMAIL in channels and bool(item.preferences.email)
        if emailed:
            deliveries.append((row["id"], "email", item.preferences.email, item.batch_id))
        if Channel.SMS in channels and item.preferences.phone:
            deliveries.append((row["id"], "sms", item.preferences.phone, item.batch_id))
        if Channel.DIDCOMM in channels and item.user_id in didcomm:
            deliveries.append((row["id"], "didcomm", didcomm[item.user_id], item.batch_id))
        notification = wire(row)
        payload = {"notificationId": notification["id"], "userId": item.user_id, "tenantId": item.tenant_id,
                   "kind": item.draft.kind, "sourceEvent": item.source_event, "corrects": notification["corrects"],
                   "channels": sorted(str(c) for c in channels)}
        outbox.append((ev.notification_id(item.source_event, item.user_id), item.user_id,
                       orjson.dumps(payload).decode(), row["created_at"]))
        queued.append(Queued(notification, push=Channel.WEBSOCKET in channels, user_id=item.user_id, email=emailed))
    if deliveries:
        await connection.executemany(
            "INSERT INTO deliveries (notification_id, channel, address, batch_id) VALUES ($1, $2, $3, $4::uuid)",
            deliveries)
    await connection.execute(
        "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, event_time) "
        "SELECT o.id, $1, o.key, $2, o.payload, o.time "
        "FROM unnest($3::uuid[], $4::text[], $5::json[], $6::timestamptz[]) AS o(id, key, payload, time)",
        ev.NOTIFICATION_QUEUED.topic, ev.NOTIFICATION_QUEUED.ce_type, [o[0] for o in outbox],
        [o[1] for o in outbox], [o[2] for o in outbox], [o[3] for o in outbox])
    return queued


async def email_batch_ready(connection, batch_id: str, payload: dict, time) -> None:
    """The EmailBatchReady event of the email deliveries tagged `batch_id` (once per batch id)."""
    await connection.execute(
        "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, event_time) "
        "VALUES ($1::uuid, $2, $3, $4, $5::json, $6) ON CONFLICT (id) DO NOTHING",
        batch_id, ev.EMAIL_BATCH_READY.topic, batch_id, ev.EMAIL_BATCH_READY.ce_type,
        orjson.dumps({"batchId": batch_id, **payload}).decode(), time)


def wire(row) -> dict:
    """A stored notification as the API and the WebSocket send it."""
    data = row["data"]
    created: datetime = row["created_at"]
    return {"id": str(row["id"]), "kind": row["kind"], "title": row["title"], "body": row["body"],
            "data": orjson.loads(data) if isinstance(data, str) else data,
            "corrects": str(row["corrects"]) if row["corrects"] else None,
            "created_at": created.isoformat(), "read": row["read_at"] is not None}


async def push_all(redis, queued: list[Queued]) -> None:
    """After the commit: live delivery of the stored notifications to their members' open WebSocket
    connections (any API process), one message per member, for those who use the websocket channel.
    Best effort: a member who is offline, or a lost publish, gets them from the inbox on (re)connect."""
    by_user = defaultdict(list)
    for item in queued:
        if item.push:
            by_user[item.user_id].append(item.notification)
    if not by_user:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for user_id, notifications in by_user.items():
                pipe.publish(PUSH_CHANNEL + str(user_id), orjson.dumps(notifications))
            await pipe.execute()
    except Exception as exc:  # noqa: BLE001 - stored already: delivered from the inbox on reconnect
        log.warning("live push failed (%r): members get these on reconnect", exc)
