"""Email delivery through a real SMTP server (aiosmtpd on a free loopback port): notifications queued with
the store, their NotificationQueued events dispatched by the deliveries consumer (rows and email batches),
each EmailBatchReady sent by the email consumer over one SMTP session, read back from the server (the
events are handed over in-process here, tests/outboxfeed.py; over Kafka in test_email_events.py). At most
once: a temporary refusal is retried later in a new batch and delivered once, a permanent one fails with
the reason, a claim left by a crash is not resent, and senders of the same batches at once (a rebalance)
deliver each message once."""

import asyncio
import uuid

import orjson
import pytest
from redis.asyncio import Redis

from backend.app.core.db import create_pool, migrate
from backend.app.notifications import deliveries, store
from backend.app.notifications.mailer import EmailConsumer
from backend.app.notifications.store import Draft
from backend.app.users.models import Preferences
from fitmint import events as ev
from tests.support.mailsink import serving_mailbox
from tests.support.outboxfeed import Flow, consume
from tests.support.processes import free_port
from tests.support.units import FIT


@pytest.fixture
def smtp():
    with serving_mailbox() as mailbox:
        yield mailbox


@pytest.fixture
def mail_settings(settings, smtp):
    migrate(settings)
    return settings.model_copy(update={"smtp_port": smtp.port})


async def add_member(connection, preferences: dict, name: str = "Alice") -> tuple[str, str]:
    tenant = await connection.fetchval(
        "INSERT INTO tenants (slug, name) VALUES ($1, $1) ON CONFLICT (slug) DO UPDATE SET name = EXCLUDED.name "
        "RETURNING id", "mailtest")
    user = await connection.fetchval(
        "INSERT INTO users (tenant_id, display_name, preferences) VALUES ($1, $2, $3::jsonb) RETURNING id",
        tenant, name, orjson.dumps(preferences).decode())
    return str(tenant), str(user)


def email_preferences(address: str) -> dict:
    return {"notification_channels": ["email", "websocket"], "email": address}


async def queue(pool, tenant: str, user: str, draft: Draft, preferences: dict, source_event: str | None = None):
    async with pool.acquire() as connection:
        async with connection.transaction():
            return await store.queue(connection, tenant_id=tenant, user_id=user,
                                     source_event=source_event or str(uuid.uuid4()), draft=draft,
                                     preferences=Preferences.model_validate(preferences))


def receipt_draft() -> Draft:
    receipt = {"order_id": 7, "listing_id": 3, "item_id": "42", "product_name": "Trail Socks", "quantity": "2",
               "unit_price": str(12 * FIT + FIT // 2), "total": str(25 * FIT), "fee": str(FIT // 4), "burned": "0",
               "tx_hash": "0x" + "ab" * 32, "buyer": "0x" + "11" * 20, "seller": "0x" + "22" * 20}
    return Draft("order.created", "Order #7 confirmed", "You bought 2 x Trail Socks for 25 FIT.", {"receipt": receipt})


def run_worker(settings, scenario):
    """`scenario(pool, flow)`: `flow.deliver()` dispatches what was queued, runs the senders' loop pass and
    sends the email batches announced meanwhile; it returns how many emails it attempted."""
    async def main():
        pool = await create_pool(settings, settings.backend_database, min_size=1, max_size=6)
        redis = Redis(host=settings.redis_host, port=settings.redis_port)
        try:
            return await scenario(pool, Flow(pool, redis, settings))
        finally:
            await redis.aclose()
            await pool.close()

    return asyncio.run(main())


async def batch_of(pool, notification_id: str) -> str | None:
    return await pool.fetchval("SELECT batch_id::text FROM deliveries WHERE notification_id = $1::uuid "
                               "AND channel = 'email'", notification_id)


async def status_of(pool, notification_id: str) -> dict:
    return dict(await pool.fetchrow("SELECT status, attempts, last_error, next_attempt_at > now() AS later, sent_at "
                                    "FROM deliveries WHERE notification_id = $1::uuid AND channel = 'email'",
                                    notification_id))


def test_receipt_is_delivered_with_its_details_and_message_id(mail_settings, smtp):
    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            tenant, user = await add_member(connection, email_preferences("alice@example.org"))
        original = str(uuid.uuid4())
        queued = await queue(pool, tenant, user, receipt_draft(), email_preferences("alice@example.org"), original)
        assert await flow.deliver() == 1
        assert await flow.deliver() == 0  # nothing left: sent once
        fixed = await pool.fetchrow("SELECT data::text AS data, title, body FROM notifications WHERE id = $1::uuid",
                                    queued.notification["id"])
        correction = Draft("order.created.reverted", f"Reversed: {fixed['title']}", "A chain reorganisation ...",
                           {"reverts": queued.notification["id"], "original": orjson.loads(fixed["data"])},
                           corrects=original)
        fix = await queue(pool, tenant, user, correction, email_preferences("alice@example.org"),
                          ev.reverted_id(original))
        assert await flow.deliver() == 1
        return queued.notification["id"], fix.notification["id"], await status_of(pool, queued.notification["id"])

    receipt_id, correction_id, status = run_worker(mail_settings, scenario)
    assert status["status"] == "sent" and status["attempts"] == 1 and status["sent_at"] is not None
    assert len(smtp.messages) == 2
    _, mail_from, rcpt, message = smtp.messages[0]
    assert rcpt == ["alice@example.org"] and mail_from == "no-reply@fitmint.localhost"
    assert message["Message-ID"] == f"<{receipt_id}@fitmint.localhost>"
    assert message["Subject"] == "Your fitmint receipt: order #7 (Trail Socks)"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for label, value in (("Order", "#7"), ("Item", "Trail Socks"), ("Quantity", "2"), ("Unit price", "12.5 FIT"),
                         ("Total", "25 FIT"), ("Fee", "0.25 FIT"), ("Transaction", "0x" + "ab" * 32)):
        assert any(line.startswith(label + ":") and line.endswith(" " + value) for line in text.splitlines()), label
        assert f"<th align=\"left\">{label}</th><td>{value}</td>" in html, label
    _, _, rcpt, fix = smtp.messages[1]
    assert fix["Subject"] == "Correction: order #7" and fix["Message-ID"] == f"<{correction_id}@fitmint.localhost>"
    assert fix["In-Reply-To"] == message["Message-ID"]  # threads under the receipt it corrects
    assert "This was reversed by a chain reorganisation" in fix.get_body(("plain",)).get_content()


@pytest.mark.parametrize("batch_size, sessions", [(100, [5]), (2, [2, 2, 1])])
def test_one_smtp_session_per_batch(mail_settings, smtp, batch_size, sessions):
    """The poll's emails in batches of at most `email_batch_size`, one EmailBatchReady and one SMTP
    session (one client port at the server) each."""
    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            members = [await add_member(connection, email_preferences(f"m{i}@example.org"), f"M{i}") for i in range(5)]
        for tenant, user in members:
            await queue(pool, tenant, user, Draft("note", "Hello", "A note."), {"notification_channels": ["email"]})
        sent = await flow.deliver()
        events = await pool.fetch("SELECT payload::text FROM outbox WHERE type = $1", ev.EMAIL_BATCH_READY.ce_type)
        return sent, sorted(orjson.loads(e["payload"])["count"] for e in events)

    sent, batches = run_worker(mail_settings.model_copy(update={"email_batch_size": batch_size}), scenario)
    assert sent == 5 and batches == sorted(sessions)
    per_session = {}
    for peer, *_ in smtp.messages:
        per_session[peer] = per_session.get(peer, 0) + 1
    assert len(smtp.messages) == 5 and sorted(per_session.values()) == sorted(sessions)


def test_temporary_refusal_is_retried_later_and_delivered_once(mail_settings, smtp):
    smtp.answers["bob@example.org"] = ["451 4.3.0 mailbox busy, try later"]

    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            tenant, user = await add_member(connection, email_preferences("bob@example.org"), "Bob")
        queued = await queue(pool, tenant, user, receipt_draft(), email_preferences("bob@example.org"))
        notification = queued.notification["id"]
        await flow.dispatch()
        batch = await batch_of(pool, notification)
        assert await flow.deliver() == 1
        first = await status_of(pool, notification)
        out_of_batch = await batch_of(pool, notification)
        assert await flow.deliver() == 0  # backing off: not due yet
        await pool.execute("UPDATE deliveries SET next_attempt_at = now() WHERE notification_id = $1::uuid",
                           notification)  # time passes
        assert await flow.deliver() == 1  # announced in a new batch, sent in answer to it
        retry = await batch_of(pool, notification)
        assert await flow.deliver() == 0
        retried = await pool.fetchval("SELECT payload::text FROM outbox WHERE id = $1::uuid", retry)
        return first, await status_of(pool, notification), (batch, out_of_batch, retry, orjson.loads(retried))

    first, final, (batch, out_of_batch, retry, retried) = run_worker(mail_settings, scenario)
    assert batch is not None and out_of_batch is None and retry not in (None, batch)
    assert retried == {"batchId": retry, "count": 1, "source": "retry"}
    assert first["status"] == "pending" and first["later"] and first["attempts"] == 1
    assert "451" in first["last_error"] and "try later" in first["last_error"]
    assert final["status"] == "sent" and final["attempts"] == 2 and final["last_error"] is None
    assert len(smtp.to("bob@example.org")) == 1


def test_permanent_refusal_fails_with_the_reason_and_is_not_retried(mail_settings, smtp):
    smtp.answers["nobody@example.org"] = ["550 5.1.1 no such user here"]

    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            tenant, user = await add_member(connection, email_preferences("nobody@example.org"), "Nobody")
            _, other = await add_member(connection, email_preferences("carol@example.org"), "Carol")
        refused = await queue(pool, tenant, user, receipt_draft(), email_preferences("nobody@example.org"))
        await queue(pool, tenant, other, receipt_draft(), email_preferences("carol@example.org"))
        assert await flow.deliver() == 2  # the refusal does not stop the batch
        await pool.execute("UPDATE deliveries SET next_attempt_at = now()")
        assert await flow.deliver() == 0
        return await status_of(pool, refused.notification["id"])

    status = run_worker(mail_settings, scenario)
    assert status["status"] == "failed" and status["attempts"] == 1
    assert "550" in status["last_error"] and "no such user" in status["last_error"]
    assert smtp.to("nobody@example.org") == [] and len(smtp.to("carol@example.org")) == 1


def test_gives_up_after_max_attempts(mail_settings, smtp):
    smtp.answers["busy@example.org"] = ["452 4.2.2 over quota"] * deliveries.MAX_ATTEMPTS

    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            tenant, user = await add_member(connection, email_preferences("busy@example.org"), "Busy")
        queued = await queue(pool, tenant, user, receipt_draft(), email_preferences("busy@example.org"))
        for _ in range(deliveries.MAX_ATTEMPTS + 1):
            await pool.execute("UPDATE deliveries SET next_attempt_at = now()")
            await flow.deliver()
        return await status_of(pool, queued.notification["id"])

    status = run_worker(mail_settings, scenario)
    assert status["status"] == "failed" and status["attempts"] == deliveries.MAX_ATTEMPTS
    assert f"gave up after {deliveries.MAX_ATTEMPTS} attempts" in status["last_error"]
    assert smtp.messages == []


def test_unreachable_server_is_a_temporary_failure(settings):
    migrate(settings)
    closed = settings.model_copy(update={"smtp_port": free_port()})  # nothing listens there

    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            tenants = [await add_member(connection, email_preferences(f"u{i}@example.org"), f"U{i}") for i in range(3)]
        ids = [(await queue(pool, t, u, receipt_draft(), email_preferences(f"u{i}@example.org"))).notification["id"]
               for i, (t, u) in enumerate(tenants)]
        assert await flow.deliver() == 3
        return [await status_of(pool, i) for i in ids]

    for status in run_worker(closed, scenario):
        assert status["status"] == "pending" and status["later"] and "cannot reach SMTP server" in status["last_error"]


def test_claim_left_by_a_crash_is_failed_not_resent(mail_settings, smtp):
    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            tenant, user = await add_member(connection, email_preferences("dave@example.org"), "Dave")
        queued = await queue(pool, tenant, user, receipt_draft(), email_preferences("dave@example.org"))
        await flow.dispatch()
        # a worker claimed it and died before recording the outcome
        await pool.execute("UPDATE deliveries SET status = 'sending', attempts = 1, "
                           "claimed_at = now() - interval '10 minutes' WHERE notification_id = $1::uuid",
                           queued.notification["id"])
        fresh = await queue(pool, tenant, user, Draft("note", "Fresh", "Still sent."),
                            email_preferences("dave@example.org"))
        await flow.dispatch()
        await pool.execute("UPDATE deliveries SET status = 'sending', attempts = 1, claimed_at = now() "
                           "WHERE notification_id = $1::uuid", fresh.notification["id"])  # a live worker's claim
        assert await flow.deliver() == 0
        return await status_of(pool, queued.notification["id"]), await status_of(pool, fresh.notification["id"])

    crashed, live = run_worker(mail_settings, scenario)
    assert crashed["status"] == "failed" and "not resent" in crashed["last_error"]
    assert live["status"] == "sending"  # younger than stale_after: its worker may still be sending it
    assert smtp.messages == []


def test_two_workers_sending_the_same_batches_deliver_each_message_once(mail_settings, smtp):
    """A rebalance can hand a batch's event to a second worker while the first still sends it: they take
    disjoint rows. And the same events once more (published twice, read again) send nothing."""
    count = 40

    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            members = [await add_member(connection, email_preferences(f"p{i}@example.org"), f"P{i}")
                       for i in range(count)]
        for i, (tenant, user) in enumerate(members):
            await queue(pool, tenant, user, Draft("note", f"Note {i}", "Hi."), email_preferences(f"p{i}@example.org"))
        await flow.dispatch()
        events = await flow.batch_events()
        other = EmailConsumer(pool, flow.settings)
        first, second = await asyncio.gather(flow.mail(events), consume(other._apply, events))
        return len(events), first, second.claimed, await flow.mail(events)

    batches, first, second, again = run_worker(mail_settings.model_copy(update={"email_batch_size": 7}), scenario)
    assert batches == 6 and first + second == count and again == 0
    ids = [m["Message-ID"] for _, _, _, m in smtp.messages]
    assert len(ids) == count and len(set(ids)) == count
    assert sorted(rcpt[0] for _, _, rcpt, _ in smtp.messages) == sorted(f"p{i}@example.org" for i in range(count))


def test_connection_lost_while_the_data_is_in_flight_is_not_resent(mail_settings, smtp):
    smtp.drop_after_data.add("erin@example.org")  # the server took it but the answer never arrives

    async def scenario(pool, flow):
        async with pool.acquire() as connection:
            tenant, user = await add_member(connection, email_preferences("erin@example.org"), "Erin")
            _, other = await add_member(connection, email_preferences("fred@example.org"), "Fred")
        lost = await queue(pool, tenant, user, receipt_draft(), email_preferences("erin@example.org"))
        await queue(pool, tenant, other, receipt_draft(), email_preferences("fred@example.org"))
        assert await flow.deliver() == 2
        await pool.execute("UPDATE deliveries SET next_attempt_at = now()")
        assert await flow.deliver() == 0
        return await status_of(pool, lost.notification["id"])

    status = run_worker(mail_settings, scenario)
    assert status["status"] == "failed" and "may have accepted it" in status["last_error"]
    assert len(smtp.to("erin@example.org")) == 1  # once, never twice
    assert len(smtp.to("fred@example.org")) == 1  # the next message went over a new connection
