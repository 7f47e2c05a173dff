"""The inbox: a member's notification stored once per source event with its NotificationQueued event
(the channels it goes out on, chosen by the member's preferences), both in the caller's transaction;
and the live push of stored notifications to the members' WebSocket connections (Redis pub/sub),
deduplicated by notification id so that pushing again what was pushed changes nothing.

Who stores (the `fitmint-notifications` consumer group, the scheduled jobs) only stores: the
`fitmint-deliveries` group consumes NotificationQueued and does the rest (deliveries, the push)."""

import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from backend.app.notifications import metrics
from backend.app.users.models import Preferences
from fitmint import events as ev
from fitmint.outbox.append import Outgoing, append
from fitmint.resilience import Retrier
from fitmint.telemetry import tracer
from fitmint.telemetry.propagation import context_of, traceparent_of

log = logging.getLogger("notifications.store")
_PUSH_HEALTH = Retrier("worker.live-push", ("redis",), log=log)
PUSH_CHANNEL = "fitmint:notify:"  # + user id: what the API's WebSocket hub subscribes to
PUSHED_KEY = "fitmint:pushed:"  # + notification id: set (with a TTL) when the notification was pushed
PUSH_MEMORY_SECONDS = 3600  # how long a push is remembered; older notifications are not pushed again
TRACEPARENT_KEY = "traceparent"  # of a pushed notification in the Redis message: its push span's context


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
    user_id: str
    channels: tuple[str, ...]  # what its NotificationQueued event names


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
    traceparent: str | None = None  # the trace it is stored in (None: the current span's)


async def queue(connection, *, tenant_id: str, user_id: str, source_event: str, draft: Draft,
                preferences: Preferences) -> Queued | None:
    """Stores `draft` for the member unless they already have a notification of `source_event`
    (then None: the event was handled before). Must run inside the caller's transaction."""
    stored = await queue_many(connection, [Pending(str(tenant_id), str(user_id), str(source_event), draft,
                                                   preferences)])
    return stored[0] if stored else None


async def queue_many(connection, items: list[Pending]) -> list[Queued]:
    """`queue` for many notifications in two statements (notifications, outbox), in the order given;
    returns those that were new. Must run inside the caller's transaction."""
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
    queued, outbox = [], []
    for item in items:
        row = stored.pop((item.user_id, item.source_event), None)
        if row is None:
            continue
        channels = tuple(sorted(str(c) for c in set(item.preferences.notification_channels)))
        notification = wire(row)
        payload = ev.NotificationQueued(
            notification_id=notification["id"], user_id=item.user_id, tenant_id=item.tenant_id, kind=item.draft.kind,
            source_event=item.source_event, corrects=notification["corrects"], channels=list(channels))
        outbox.append(Outgoing(ev.notification_id(item.source_event, item.user_id), ev.NOTIFICATION_QUEUED, payload,
                               row["created_at"], traceparent=item.traceparent))
        queued.append(Queued(notification, item.user_id, channels))
    await append(connection, outbox)
    return queued


async def email_batch_ready(connection, batch_id: str, *, count: int, source: str, time: datetime,
                            traceparent: str | None = None) -> None:
    """The EmailBatchReady event of the `count` email deliveries tagged `batch_id` (once per batch id:
    the event id is the batch id), in the trace `traceparent` (None: the current span's)."""
    await append(connection, [Outgoing(batch_id, ev.EMAIL_BATCH_READY,
                                       ev.EmailBatchReady(batch_id=batch_id, count=count, source=source), time,
                                       traceparent=traceparent)])


def wire(row) -> dict:
    """A stored notification as the API and the WebSocket send it."""
    data = row["data"]
    created: datetime = row["created_at"]
    return {"id": str(row["id"]), "kind": row["kind"], "title": row["title"], "body": row["body"],
            "data": orjson.loads(data) if isinstance(data, str) else data,
            "corrects": str(row["corrects"]) if row["corrects"] else None,
            "created_at": created.isoformat(), "read": row["read_at"] is not None}


# Publishes, on one member's channel, those of the given notifications not pushed before (a key per
# notification id, set with a TTL), in one atomic step: a push repeated after a crash (the records came
# again) publishes nothing twice. KEYS: the notifications' keys; ARGV: channel, TTL, their JSON.
_PUSH_ONCE = """
local fresh = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, '1', 'NX', 'EX', ARGV[2]) then
    fresh[#fresh + 1] = ARGV[i + 2]
  end
end
if #fresh > 0 then
  redis.call('PUBLISH', ARGV[1], '[' .. table.concat(fresh, ',') .. ']')
end
return #fresh
"""


async def push_live(redis, pushes: list[tuple[str, dict, str | None]]) -> int:
    """After the commit: live delivery of stored notifications, `(user id, wire(notification), the
    traceparent of its trace or None)` in order, to the members' open WebSocket connections (any API
    process): one message per member with those not pushed before. Best effort: a member who is offline,
    or a lost publish, gets them from the inbox on (re)connect. Returns how many were published.

    A traced notification gets a "websocket push" span, whose traceparent rides in the Redis message
    (the notification's `traceparent` key, which the API's WebSocket route takes off before sending)."""
    by_user = defaultdict(list)
    spans = []
    for user_id, notification, traceparent in pushes:
        if traceparent is not None and (span := _push_span(traceparent, notification)) is not None:
            spans.append(span)
            notification = {**notification, TRACEPARENT_KEY: traceparent_of(span.get_span_context())}
        by_user[str(user_id)].append(notification)
    if not by_user:
        return 0
    # One traced push (the head's usual poll): Redis' own spans nest in it.
    current = trace.use_span(spans[0], end_on_exit=False) if len(spans) == 1 else contextlib.nullcontext()
    try:
        with current:
            return await _push(redis, by_user)
    finally:
        for span in spans:
            span.end()


def _push_span(traceparent: str, notification: dict):
    parent = context_of(traceparent)
    if parent is None:
        return None
    return tracer().start_span("websocket push", context=parent, kind=SpanKind.PRODUCER, attributes={
        "messaging.system": "redis", "messaging.operation.type": "publish",
        "messaging.destination.name": PUSH_CHANNEL + "<user id>", "fitmint.notification.id": notification["id"],
        "fitmint.notification.kind": notification["kind"]})


async def _push(redis, by_user: dict[str, list[dict]]) -> int:
    script = redis.register_script(_PUSH_ONCE)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for user_id, notifications in by_user.items():
                await script(keys=[PUSHED_KEY + n["id"] for n in notifications],
                             args=[PUSH_CHANNEL + user_id, PUSH_MEMORY_SECONDS,
                                   *(orjson.dumps(n) for n in notifications)], client=pipe)
            pushed = sum(await pipe.execute())
        _PUSH_HEALTH.progressed()
        metrics.delivered("websocket", metrics.SENT, pushed)
        return pushed
    except Exception as exc:  # noqa: BLE001 - stored already: delivered from the inbox on reconnect
        metrics.delivered("websocket", metrics.FAILED, sum(len(batch) for batch in by_user.values()))
        if _PUSH_HEALTH.classify(exc):
            _PUSH_HEALTH.down("redis", exc)  # said once per outage; members get these on reconnect
        else:
            log.warning("live push failed (%r): members get these on reconnect", exc)
        return 0
