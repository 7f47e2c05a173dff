"""The delivery worker: sends the due rows of `deliveries` (email, SMS, DIDComm basic messages through
our ACA-Py agent), at most once each.

Each pass:
1. rows left 'sending' longer than `stale_after` (their worker died between claiming and recording the
   outcome) become 'failed': the message may or may not have left, and resending could deliver it
   twice, so they are reported rather than retried;
2. due 'pending' rows are claimed (`FOR UPDATE SKIP LOCKED`: concurrent workers take disjoint rows) and
   marked 'sending' (claimed_at, attempts + 1) in a transaction of their own, committed BEFORE anything
   is sent;
3. the emails go out over one SMTP connection, the SMS through the provider, and each outcome is
   recorded as it happens: 'sent'; back to 'pending' with exponential backoff after a temporary failure
   (SMTP 4xx, server unreachable, connection lost before the data) until MAX_ATTEMPTS, then 'failed';
   'failed' with the reason after a permanent one (SMTP 5xx, an unusable address, or a connection lost
   while the data was in flight, when the server may have taken the message).
A worker that runs out of half its `stale_after` budget in one pass hands the rest of its claim back
untouched, so the sweep of step 1 never fails a row that a live worker is still about to send.
"""

import asyncio
import logging
import time
from datetime import timedelta

import asyncpg
import orjson

from backend.app.core.background import pause
from backend.app.core.config import Settings
from backend.app.identity.acapy import AcaPy, AgentError, AgentUnavailable
from backend.app.notifications import sms as sms_module
from backend.app.notifications import templates
from backend.app.notifications.email import EmailSender, SendError
from fitmint.resilience import Retrier

log = logging.getLogger("notifications.deliveries")

MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 30.0   # 30 s, 1, 2, 4 min ... (doubling per attempt)
RETRY_CAP_SECONDS = 3600.0
STALE_AFTER = timedelta(minutes=5)

_SWEEP = """
UPDATE deliveries
   SET status = 'failed',
       last_error = 'claimed at ' || claimed_at || ' and never confirmed (the worker stopped mid-send): '
                    'not resent, to keep delivery at most once'
 WHERE status = 'sending' AND claimed_at < now() - make_interval(secs => $1)
RETURNING notification_id, channel, address
"""

_CLAIM = """
WITH due AS (
    SELECT notification_id, channel FROM deliveries
     WHERE status = 'pending' AND next_attempt_at <= now()
     ORDER BY next_attempt_at
     LIMIT $1
       FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d
   SET status = 'sending', claimed_at = now(), attempts = d.attempts + 1
  FROM due, notifications n
 WHERE d.notification_id = due.notification_id AND d.channel = due.channel AND n.id = d.notification_id
RETURNING d.notification_id, d.channel, d.address, d.attempts, d.batch_id,
          n.kind, n.title, n.body, n.data::text AS data, n.corrects, n.created_at
"""

_SENT = ("UPDATE deliveries SET status = 'sent', sent_at = now(), last_error = NULL "
         "WHERE notification_id = $1 AND channel = $2")
_FAILED = ("UPDATE deliveries SET status = 'failed', last_error = $3 "
           "WHERE notification_id = $1 AND channel = $2 AND status = 'sending'")
_RETRY = """
UPDATE deliveries
   SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END,
       last_error = CASE WHEN attempts >= $4 THEN $3 || ' (gave up after ' || attempts || ' attempts)' ELSE $3 END,
       next_attempt_at = now() + make_interval(secs => least($5 * power(2, attempts - 1), $6))
 WHERE notification_id = $1 AND channel = $2 AND status = 'sending'
RETURNING status
"""
_RELEASE = ("UPDATE deliveries SET status = 'pending', attempts = attempts - 1, claimed_at = NULL "
            "WHERE notification_id = $1 AND channel = $2 AND status = 'sending'")


class _Tally:
    def __init__(self):
        self.sent = self.retrying = self.failed = self.released = 0


def notification_of(row) -> dict:
    """The stored notification of a claimed row, as the templates read it."""
    return {"id": str(row["notification_id"]), "kind": row["kind"], "title": row["title"], "body": row["body"],
            "data": orjson.loads(row["data"]) if row["data"] else {},
            "corrects": str(row["corrects"]) if row["corrects"] else None, "created_at": row["created_at"]}


async def sweep_stale(pool: asyncpg.Pool, stale_after: timedelta = STALE_AFTER) -> int:
    rows = await pool.fetch(_SWEEP, stale_after.total_seconds())
    for row in rows:
        log.warning("delivery %s/%s to %s was claimed and never confirmed: marked failed, not resent",
                    row["notification_id"], row["channel"], row["address"])
    return len(rows)


async def claim(pool: asyncpg.Pool, limit: int) -> list:
    async with pool.acquire() as connection:
        async with connection.transaction():
            return await connection.fetch(_CLAIM, limit)


async def deliver_due(pool: asyncpg.Pool, settings: Settings, email_sender: EmailSender,
                      sms_provider: sms_module.SmsProvider, *, limit: int = 100,
                      stale_after: timedelta = STALE_AFTER, agent: AcaPy | None = None) -> int:
    """One pass: sweeps stale claims, claims up to `limit` due rows, sends them and records each outcome.
    Returns how many rows it claimed (a full claim means more may be due)."""
    await sweep_stale(pool, stale_after)
    rows = await claim(pool, limit)
    if not rows:
        return 0
    deadline = time.monotonic() + stale_after.total_seconds() / 2
    tally = _Tally()
    emails = [row for row in rows if row["channel"] == "email"]
    texts = [row for row in rows if row["channel"] == "sms"]
    messages = [row for row in rows if row["channel"] == "didcomm"]
    if emails:
        await _send_emails(pool, email_sender, emails, deadline, tally)
    for index, row in enumerate(texts):
        if time.monotonic() > deadline:
            await _release(pool, texts[index:], tally)
            break
        await _send_sms(pool, sms_provider, row, tally)
    for index, row in enumerate(messages):
        if time.monotonic() > deadline or agent is None:
            await _release(pool, messages[index:], tally)
            break
        await _send_didcomm(pool, agent, row, tally)
    log.info("deliveries: %d claimed (%d email, %d sms, %d didcomm): %d sent, %d to retry, %d failed, "
             "%d handed back", len(rows), len(emails), len(texts), len(messages), tally.sent, tally.retrying,
             tally.failed, tally.released)
    return len(rows)


async def _send_emails(pool, email_sender: EmailSender, rows: list, deadline: float, tally: _Tally) -> None:
    async with email_sender.connection() as smtp:  # one SMTP session for the batch (reconnects if it drops)
        for index, row in enumerate(rows):
            if time.monotonic() > deadline:
                await _release(pool, rows[index:], tally)
                return
            notification = notification_of(row)
            try:
                message = email_sender.compose(notification, row["address"])
            except SendError as exc:
                await _fail(pool, row, exc.reason, tally)
                continue
            except Exception as exc:  # noqa: BLE001 - a template bug fails this one message, not the batch
                log.exception("cannot render notification %s (%s)", notification["id"], notification["kind"])
                await _fail(pool, row, f"cannot render the email: {exc!r}", tally)
                continue
            try:
                reply = await smtp.send(message)
            except SendError as exc:
                if exc.permanent:
                    await _fail(pool, row, exc.reason, tally)
                elif exc.unreachable:  # the server is down: the rest waits too
                    for waiting in rows[index:]:
                        await _retry(pool, waiting, exc.reason, tally)
                    return
                else:
                    await _retry(pool, row, exc.reason, tally)
                continue
            await pool.execute(_SENT, row["notification_id"], row["channel"])
            tally.sent += 1
            log.debug("email %s sent to %s: %s", notification["id"], row["address"], reply)


async def _send_sms(pool, provider: sms_module.SmsProvider, row, tally: _Tally) -> None:
    notification = notification_of(row)
    text = sms_module.fit_message(templates.sms_text(notification))
    try:
        message_id = await provider.send(row["address"], text)
    except sms_module.SmsError as exc:
        if exc.permanent:
            await _fail(pool, row, exc.reason, tally)
        else:
            await _retry(pool, row, exc.reason, tally)
        return
    except Exception as exc:  # noqa: BLE001 - unknown outcome: not resent (at most once)
        log.exception("SMS provider failed on notification %s", notification["id"])
        await _fail(pool, row, f"SMS provider error, outcome unknown, not resent: {exc!r}", tally)
        return
    await pool.execute(_SENT, row["notification_id"], row["channel"])
    tally.sent += 1
    log.debug("sms %s sent to %s: provider id %s", notification["id"], row["address"], message_id)


async def _send_didcomm(pool, agent: AcaPy, row, tally: _Tally) -> None:
    """A basic message on the member's connection (the address is the agent's connection id)."""
    notification = notification_of(row)
    text = templates.sms_text(notification)
    try:
        await agent.send_message(row["address"], text)
    except AgentUnavailable as exc:  # refused before sending (unreachable): safe to retry
        await _retry(pool, row, str(exc), tally)
        return
    except AgentError as exc:  # e.g. the connection is gone: permanent
        await _fail(pool, row, str(exc), tally)
        return
    await pool.execute(_SENT, row["notification_id"], row["channel"])
    tally.sent += 1


async def _fail(pool, row, reason: str, tally: _Tally) -> None:
    log.warning("delivery %s/%s to %s failed: %s", row["notification_id"], row["channel"], row["address"], reason)
    await pool.execute(_FAILED, row["notification_id"], row["channel"], reason)
    tally.failed += 1


async def _retry(pool, row, reason: str, tally: _Tally) -> None:
    status = await pool.fetchval(_RETRY, row["notification_id"], row["channel"], reason, MAX_ATTEMPTS,
                                 RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)
    if status == "failed":
        log.warning("delivery %s/%s to %s failed after %d attempts: %s", row["notification_id"], row["channel"],
                    row["address"], row["attempts"], reason)
        tally.failed += 1
    else:
        log.info("delivery %s/%s to %s: attempt %d failed (%s); retrying later", row["notification_id"],
                 row["channel"], row["address"], row["attempts"], reason)
        tally.retrying += 1


async def _release(pool, rows: list, tally: _Tally) -> None:
    await pool.executemany(_RELEASE, [(row["notification_id"], row["channel"]) for row in rows])
    tally.released += len(rows)


async def run(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event, *,
              email_sender: EmailSender | None = None, sms_provider: sms_module.SmsProvider | None = None,
              limit: int = 100, idle_sleep: float = 0.5) -> None:
    """The worker loop until `stop` is set: passes back to back while rows are due, else a poll every
    `idle_sleep` seconds. Any number of workers may run (claims are disjoint)."""
    email_sender = email_sender or EmailSender(settings)
    sms_provider = sms_provider or sms_module.sms_provider(settings)
    agent = AcaPy(settings)
    log.info("delivering notifications: email via %s:%s, SMS via %s", settings.smtp_host, settings.smtp_port,
             settings.sms_provider)
    health = Retrier("worker.deliveries", ("postgres",), log=log)
    while not stop.is_set():
        try:
            handled = await deliver_due(pool, settings, email_sender, sms_provider, limit=limit, agent=agent)
        except Exception as exc:  # noqa: BLE001 - PostgreSQL down (said once), or a bug (logged): retried
            await health.failed(exc, stop)
            continue
        health.progressed()
        if handled < limit:
            await pause(stop, idle_sleep)
    await agent.close()
