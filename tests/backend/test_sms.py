"""SMS: the log provider's sink receives one JSON line per message (folder 0700, file 0600), texts fit
one message, an unknown provider is refused, and a member's SMS is sent once: by the deliveries consumer
of a sending worker, or by the senders' loop when the dispatching worker does not send."""

import asyncio
import stat
import uuid

import orjson
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from backend.app.core.db import create_pool, migrate
from backend.app.notifications import deliveries, store
from backend.app.notifications.sms import LogSmsProvider, SmsError, SmsProvider, fit_message, sms_provider
from backend.app.notifications.store import Draft
from backend.app.users.models import Preferences
from fitmint import events as ev
from tests.support.outboxfeed import Flow, consume, outbox_records


def lines(path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


SMS_MEMBER = {"notification_channels": ["sms"], "phone": "+491701234567"}


async def queue_for_an_sms_member(pool, draft: Draft) -> None:
    """A tenant, a member who wants SMS, and one notification queued for them (committed)."""
    tenant = await pool.fetchval("INSERT INTO tenants (slug, name) VALUES ('smstest', 'SMS') RETURNING id")
    user = await pool.fetchval("INSERT INTO users (tenant_id, preferences) VALUES ($1, $2::jsonb) RETURNING id",
                               tenant, orjson.dumps(SMS_MEMBER).decode())
    async with pool.acquire() as connection, connection.transaction():
        await store.queue(connection, tenant_id=str(tenant), user_id=str(user), source_event=str(uuid.uuid4()),
                          preferences=Preferences(**SMS_MEMBER), draft=draft)


def test_log_provider_appends_a_json_line(settings):
    provider = sms_provider(settings)
    assert isinstance(provider, LogSmsProvider) and isinstance(provider, SmsProvider)
    first = asyncio.run(provider.send("+491701234567", "fitmint: Time for your workout."))
    second = asyncio.run(provider.send("+12025550123", "second"))
    sink = settings.sms_sink()
    written = lines(sink)
    assert [(m["id"], m["to"], m["text"]) for m in written] == [
        (first, "+491701234567", "fitmint: Time for your workout."), (second, "+12025550123", "second")]
    assert stat.S_IMODE(sink.parent.stat().st_mode) == 0o700 and stat.S_IMODE(sink.stat().st_mode) == 0o600


def test_not_a_phone_number_is_a_permanent_error(settings):
    with pytest.raises(SmsError) as refused:
        asyncio.run(sms_provider(settings).send("0170 1234", "hi"))
    assert refused.value.permanent and "E.164" in refused.value.reason


def test_unknown_provider_is_refused(settings):
    with pytest.raises(ValueError, match=r"unknown SMS provider 'twilio'.*known: log"):
        sms_provider(settings.model_copy(update={"sms_provider": "twilio"}))


def test_texts_fit_one_message():
    assert fit_message("  short \n text ") == "short text"
    long = "fitmint: Weekly distance challenge 2026-W10: you placed #2. " + "Top 3: " + "Somebody 12.34 km, " * 12
    fitted = fit_message(long)
    assert len(fitted) <= 160 and fitted.endswith("...") and long.startswith(fitted[:-3])
    assert not fitted[:-3].endswith(" ")  # cut at a word boundary
    assert len(fit_message("x" * 400)) == 160
    unicode = fit_message("fitmint: Привет! " * 10)  # Cyrillic needs UCS-2: 70 characters
    assert len(unicode) <= 70 and unicode.endswith("...")
    extended = fit_message("{" * 100)  # GSM extension characters count twice
    assert sum(2 if c == "{" else 1 for c in extended) <= 160


def _sms_sent() -> float:
    return REGISTRY.get_sample_value("fitmint_deliveries_total", {"channel": "sms", "outcome": "sent"})


def test_worker_sends_a_members_sms_once(settings):
    """The deliveries consumer creates the SMS row of a NotificationQueued event and a sending worker sends
    it right after its commit; the same event again, and the senders' loop, send nothing more (and the
    deliveries metric counts the one message)."""
    migrate(settings)
    counted_before = _sms_sent()

    async def scenario():
        pool = await create_pool(settings, settings.backend_database, min_size=1, max_size=3)
        redis = Redis(host=settings.redis_host, port=settings.redis_port)
        try:
            await queue_for_an_sms_member(pool, Draft("reminder.daily", "Time for your workout", "It's 07:30. " * 30))
            flow = Flow(pool, redis, settings)
            events, _ = await outbox_records(pool, ev.NOTIFICATION_QUEUED)
            await consume(flow.dispatcher._apply, events)
            sent = await pool.fetchval("SELECT status FROM deliveries WHERE channel = 'sms'")
            await consume(flow.dispatcher._apply, events)  # the same event again (a replay)
            loop = await deliveries.housekeeping(pool, settings, sms_provider(settings), None)
            return sent, loop, await pool.fetchval("SELECT count(*) FROM deliveries")
        finally:
            await redis.aclose()
            await pool.close()

    sent, loop, rows = asyncio.run(scenario())
    assert sent == "sent" and loop == 0 and rows == 1
    assert _sms_sent() - counted_before == 1
    [message] = lines(settings.sms_sink())
    assert message["to"] == "+491701234567"
    assert message["text"].startswith("fitmint: Time for your workout. It's 07:30.")
    assert len(message["text"]) <= 160


def test_sms_left_by_a_worker_that_does_not_send_goes_out_from_the_senders_loop(settings):
    """A `--no-senders` worker dispatches (the row exists) but sends nothing; a sending worker's loop sends
    the due row, once."""
    migrate(settings)

    async def scenario():
        pool = await create_pool(settings, settings.backend_database, min_size=1, max_size=3)
        redis = Redis(host=settings.redis_host, port=settings.redis_port)
        try:
            await queue_for_an_sms_member(pool, Draft("note", "Hello", "Hi."))
            await Flow(pool, redis, settings, senders=False).dispatch()
            waiting = await pool.fetchval("SELECT status FROM deliveries WHERE channel = 'sms'")
            passes = [await deliveries.housekeeping(pool, settings, sms_provider(settings), None) for _ in range(2)]
            return waiting, passes, await pool.fetchval("SELECT status FROM deliveries WHERE channel = 'sms'")
        finally:
            await redis.aclose()
            await pool.close()

    waiting, passes, status = asyncio.run(scenario())
    assert waiting == "pending" and passes == [1, 0] and status == "sent"
    assert len(lines(settings.sms_sink())) == 1
