"""Sending the rows of `deliveries` (email, SMS, DIDComm basic messages through our ACA-Py agent), at
most once each, and the senders' loop.

- Email goes out only in answer to EmailBatchReady (the `fitmint-email` group, mailer.py, calls
  `send_email_batch`): the batch's rows over one SMTP session.
- SMS and DIDComm go out right after the `fitmint-deliveries` group created them (dispatch.py calls
  `send_texts` for its notifications) and, for retries and rows no sender took, from the loop.
- The senders' loop (`run`, only in workers that send): sweeps claims left by a dead worker, announces
  the email deliveries whose retry is due in new batches (an EmailBatchReady each), and sends due SMS and
  DIDComm rows.

At most once: a row is claimed ('sending': claimed_at, attempts + 1) in a statement of its own, committed
BEFORE anything is sent, and its outcome is recorded as it happens:
- 'sent';
- back to 'pending' with exponential backoff after a temporary failure (SMTP 4xx, server unreachable,
  connection lost before the data; the agent unreachable) until MAX_ATTEMPTS, then 'failed'. An email
  leaves its batch (batch_id NULL): the loop puts it in a new batch once its retry is due;
- 'failed' with the reason after a permanent one (SMTP 5xx, an unusable address, or a connection lost
  while the data was in flight, when the server may have taken the message).
A row left 'sending' longer than `settings.delivery_stale_after_seconds` (its worker died between the
claim and the outcome) becomes 'failed' with that reason: the message may or may not have left, and
resending could deliver it twice. An email batch claims its rows one at a time, inside its SMTP
session: a worker killed mid-batch leaves at most the message in flight unconfirmed, and the batch's
event, whose offset was not committed, comes again and sends what the batch still owes (its rows still
'pending').
"""

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
from opentelemetry.trace import SpanKind

from agent.controller.acapy import AcaPy, AgentError, AgentUnavailable
from backend.app.core.background import pause
from backend.app.core.config import Settings
from backend.app.notifications import metrics, templates
from backend.app.notifications import sms as sms_module
from backend.app.notifications.email import EmailSender, SendError
from backend.app.notifications.store import email_batch_ready
from fitmint import events as ev
from fitmint.resilience import Retrier
from fitmint.telemetry import continued

log = logging.getLogger("notifications.deliveries")

MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 30.0   # 30 s, 1, 2, 4 min ... (doubling per attempt)
RETRY_CAP_SECONDS = 3600.0
TEXT_CHANNELS = ("sms", "didcomm")

_SWEEP = """
UPDATE deliveries
   SET status = 'failed',
       last_error = 'claimed at ' || claimed_at || ' and never confirmed (the worker stopped mid-send): '
                    'not resent, to keep delivery at most once'
 WHERE status = 'sending' AND claimed_at < now() - make_interval(secs => $1)
RETURNING notification_id, channel, address
"""

_RETURNING = """
RETURNING d.notification_id, d.channel, d.address, d.attempts, d.batch_id,
          n.kind, n.title, n.body, n.data::text AS data, n.corrects, n.created_at
"""

# Due SMS/DIDComm rows (of the given notifications, or any), disjoint between concurrent claimers.
_CLAIM_TEXTS = """
WITH due AS (
    SELECT notification_id, channel FROM deliveries
     WHERE status = 'pending' AND next_attempt_at <= now() AND channel = ANY($2::text[])
       AND ($3::uuid[] IS NULL OR notification_id = ANY($3::uuid[]))
     ORDER BY next_attempt_at
     LIMIT $1
       FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d
   SET status = 'sending', claimed_at = now(), attempts = d.attempts + 1
  FROM due, notifications n
 WHERE d.notification_id = due.notification_id AND d.channel = due.channel AND n.id = d.notification_id
""" + _RETURNING

# The next email a batch still owes (one of its rows still 'pending'); concurrent senders of the same
# batch (a rebalance hands its event to another worker) take different rows.
_CLAIM_EMAIL = """
WITH next AS (
    SELECT notification_id, channel FROM deliveries
     WHERE batch_id = $1::uuid AND channel = 'email' AND status = 'pending'
     ORDER BY next_attempt_at, notification_id
     LIMIT 1
       FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d
   SET status = 'sending', claimed_at = now(), attempts = d.attempts + 1
  FROM next, notifications n
 WHERE d.notification_id = next.notification_id AND d.channel = next.channel AND n.id = d.notification_id
""" + _RETURNING

_SENT = ("UPDATE deliveries SET status = 'sent', sent_at = now(), last_error = NULL "
         "WHERE notification_id = $1 AND channel = $2")
_FAILED = ("UPDATE deliveries SET status = 'failed', last_error = $3 "
           "WHERE notification_id = $1 AND channel = $2 AND status = 'sending'")
_RETRY = """
UPDATE deliveries
   SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END,
       last_error = CASE WHEN attempts >= $4 THEN $3 || ' (gave up after ' || attempts || ' attempts)' ELSE $3 END,
       next_attempt_at = now() + make_interval(secs => least($5 * power(2, attempts - 1), $6)),
       batch_id = NULL
 WHERE notification_id = $1 AND channel = $2 AND status = 'sending'
RETURNING status
"""
# The SMTP server cannot be reached: every email the batch still owes counts a failed attempt and
# waits its backoff, out of the batch (the loop announces it again when due).
_POSTPONE_BATCH = """
UPDATE deliveries
   SET status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE 'pending' END,
       last_error = CASE WHEN attempts + 1 >= $3 THEN $2 || ' (gave up after ' || (attempts + 1) || ' attempts)'
                         ELSE $2 END,
       next_attempt_at = now() + make_interval(secs => least($4 * power(2, attempts), $5)),
       attempts = attempts + 1,
       batch_id = NULL
 WHERE batch_id = $1::uuid AND channel = 'email' AND status = 'pending'
RETURNING status
"""
_RELEASE = ("UPDATE deliveries SET status = 'pending', attempts = attempts - 1, claimed_at = NULL "
            "WHERE notification_id = $1 AND channel = $2 AND status = 'sending'")
# Email deliveries out of any batch whose retry is due: the next ones to announce.
_DUE_RETRIES = """
SELECT notification_id, attempts FROM deliveries
 WHERE channel = 'email' AND status = 'pending' AND batch_id IS NULL AND next_attempt_at <= now()
 ORDER BY next_attempt_at
 LIMIT $1
   FOR UPDATE SKIP LOCKED
"""


class Tally:
    def __init__(self):
        self.claimed = self.sent = self.retrying = self.failed = self.released = 0

    def add(self, other: "Tally") -> None:
        for name in ("claimed", "sent", "retrying", "failed", "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return (f"{self.claimed} claimed: {self.sent} sent, {self.retrying} to retry, {self.failed} failed"
                + (f", {self.released} handed back" if self.released else ""))


def notification_of(row) -> dict:
    """The stored notification of a claimed row, as the templates read it."""
    return {"id": str(row["notification_id"]), "kind": row["kind"], "title": row["title"], "body": row["body"],
            "data": orjson.loads(row["data"]) if row["data"] else {},
            "corrects": str(row["corrects"]) if row["corrects"] else None, "created_at": row["created_at"]}


def stale_after(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.delivery_stale_after_seconds)


async def sweep_stale(pool: asyncpg.Pool, after: timedelta) -> int:
    rows = await pool.fetch(_SWEEP, after.total_seconds())
    for row in rows:
        metrics.delivered(row["channel"], metrics.UNCONFIRMED)
        log.warning("delivery %s/%s to %s was claimed and never confirmed: marked failed, not resent",
                    row["notification_id"], row["channel"], row["address"])
    return len(rows)


# --- email: one batch, one SMTP session -------------------------------------------------------------------

async def send_email_batch(pool: asyncpg.Pool, email_sender: EmailSender, batch_id: str, *,
                           traceparent: str | None = None) -> Tally:
    """Sends what the batch `batch_id` still owes (its 'pending' rows; none if it was sent already) over
    one SMTP session, claiming each row just before sending it, and records each outcome. In the trace
    `traceparent` (its EmailBatchReady's), a span "email batch" with the counts."""
    with continued("email batch", traceparent, kind=SpanKind.CLIENT,
                   attributes={"fitmint.email.batch_id": batch_id}) as span:
        tally = await _send_email_batch(pool, email_sender, batch_id)
        _count(span, tally)
    return tally


async def _send_email_batch(pool: asyncpg.Pool, email_sender: EmailSender, batch_id: str) -> Tally:
    tally = Tally()
    async with email_sender.connection() as smtp:  # one SMTP session for the batch (reconnects if it drops)
        while (row := await pool.fetchrow(_CLAIM_EMAIL, batch_id)) is not None:
            tally.claimed += 1
            notification = notification_of(row)
            try:
                message = email_sender.compose(notification, row["address"])
            except SendError as exc:
                await _fail(pool, row, exc.reason, tally)
                continue
            except Exception as exc:  # a template bug fails this one message, not the batch
                log.exception("cannot render notification %s (%s)", notification["id"], notification["kind"])
                await _fail(pool, row, f"cannot render the email: {exc!r}", tally)
                continue
            try:
                reply = await smtp.send(message)
            except SendError as exc:
                if exc.permanent:
                    await _fail(pool, row, exc.reason, tally)
                elif exc.unreachable:  # the server is down: the rest of the batch waits too
                    await _retry(pool, row, exc.reason, tally)
                    await _postpone_batch(pool, batch_id, exc.reason, tally)
                    break
                else:
                    await _retry(pool, row, exc.reason, tally)
                continue
            await pool.execute(_SENT, row["notification_id"], row["channel"])
            tally.sent += 1
            metrics.delivered("email", metrics.SENT)
            log.debug("email %s sent to %s: %s", notification["id"], row["address"], reply)
    if tally.claimed:
        log.info("email batch %s: %s", batch_id, tally)
    return tally


async def _postpone_batch(pool, batch_id: str, reason: str, tally: Tally) -> None:
    statuses = [row["status"] for row in await pool.fetch(_POSTPONE_BATCH, batch_id, reason, MAX_ATTEMPTS,
                                                          RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)]
    tally.claimed += len(statuses)
    tally.failed += statuses.count("failed")
    tally.retrying += statuses.count("pending")
    metrics.delivered("email", metrics.FAILED, statuses.count("failed"))
    metrics.delivered("email", metrics.RETRIED, statuses.count("pending"))


async def announce_due_emails(pool: asyncpg.Pool, settings: Settings) -> int:
    """Puts the email deliveries whose retry is due in new batches (at most `email_batch_size` each),
    each announced by an EmailBatchReady written in the same transaction; returns how many batches."""
    size = max(1, settings.email_batch_size)
    batches = 0
    while True:
        async with pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(_DUE_RETRIES, size)
            if not rows:
                return batches
            batch_id = ev.email_batch_id("retry", [f"{r['notification_id']}:{r['attempts']}" for r in rows])
            await connection.execute(
                "UPDATE deliveries SET batch_id = $1::uuid WHERE channel = 'email' AND notification_id = ANY($2)",
                batch_id, [r["notification_id"] for r in rows])
            await email_batch_ready(connection, batch_id, count=len(rows), source="retry",
                                    time=datetime.now(UTC))
        batches += 1
        log.info("email batch %s: %d deliveries whose retry is due", batch_id, len(rows))
        if len(rows) < size:
            return batches


# --- SMS and DIDComm ------------------------------------------------------------------------------------

async def send_texts(pool: asyncpg.Pool, sms_provider: sms_module.SmsProvider, agent: AcaPy | None, *,
                     after: timedelta, limit: int = 100, notification_ids: list[str] | None = None,
                     traces: dict[str, str] | None = None) -> int:
    """Claims up to `limit` due SMS and DIDComm rows (of `notification_ids`, or any), sends them and
    records each outcome. Returns how many rows it claimed (a full claim means more may be due). A pass
    that runs out of half the `after` budget (the stale sweep's) hands the rest of its claim back
    untouched, so the sweep never fails a row that a live worker is still about to send. `traces`:
    notification id -> the trace its send is a span of ("send sms", "send didcomm")."""
    traces = traces or {}
    channels = list(TEXT_CHANNELS) if agent is not None else ["sms"]
    async with pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch(_CLAIM_TEXTS, limit, channels, notification_ids)
    if not rows:
        return 0
    deadline = time.monotonic() + after.total_seconds() / 2
    tally = Tally()
    tally.claimed = len(rows)
    for index, row in enumerate(rows):
        if time.monotonic() > deadline:
            await _release(pool, rows[index:], tally)
            break
        with continued(f"send {row['channel']}", traces.get(str(row["notification_id"])), kind=SpanKind.CLIENT,
                       attributes={"fitmint.notification.id": str(row["notification_id"])}):
            if row["channel"] == "sms":
                await _send_sms(pool, sms_provider, row, tally)
            else:
                await _send_didcomm(pool, agent, row, tally)
    log.info("sms/didcomm: %s", tally)
    return len(rows)


async def _send_sms(pool, provider: sms_module.SmsProvider, row, tally: Tally) -> None:
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
    except Exception as exc:  # unknown outcome: not resent (at most once)
        log.exception("SMS provider failed on notification %s", notification["id"])
        await _fail(pool, row, f"SMS provider error, outcome unknown, not resent: {exc!r}", tally)
        return
    await pool.execute(_SENT, row["notification_id"], row["channel"])
    tally.sent += 1
    metrics.delivered(row["channel"], metrics.SENT)
    log.debug("sms %s sent to %s: provider id %s", notification["id"], row["address"], message_id)


async def _send_didcomm(pool, agent: AcaPy, row, tally: Tally) -> None:
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
    metrics.delivered(row["channel"], metrics.SENT)


# --- traces ---------------------------------------------------------------------------------------------

def _count(span, tally: Tally) -> None:
    if span is not None:
        span.set_attributes({"fitmint.deliveries.claimed": tally.claimed, "fitmint.deliveries.sent": tally.sent,
                             "fitmint.deliveries.retrying": tally.retrying, "fitmint.deliveries.failed": tally.failed})


# --- outcomes -------------------------------------------------------------------------------------------

async def _fail(pool, row, reason: str, tally: Tally) -> None:
    log.warning("delivery %s/%s to %s failed: %s", row["notification_id"], row["channel"], row["address"], reason)
    await pool.execute(_FAILED, row["notification_id"], row["channel"], reason)
    tally.failed += 1
    metrics.delivered(row["channel"], metrics.FAILED)


async def _retry(pool, row, reason: str, tally: Tally) -> None:
    status = await pool.fetchval(_RETRY, row["notification_id"], row["channel"], reason, MAX_ATTEMPTS,
                                 RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)
    if status == "failed":
        log.warning("delivery %s/%s to %s failed after %d attempts: %s", row["notification_id"], row["channel"],
                    row["address"], row["attempts"], reason)
        tally.failed += 1
        metrics.delivered(row["channel"], metrics.FAILED)
    else:
        metrics.delivered(row["channel"], metrics.RETRIED)
        log.info("delivery %s/%s to %s: attempt %d failed (%s); retrying later", row["notification_id"],
                 row["channel"], row["address"], row["attempts"], reason)
        tally.retrying += 1


async def _release(pool, rows: list, tally: Tally) -> None:
    await pool.executemany(_RELEASE, [(row["notification_id"], row["channel"]) for row in rows])
    tally.released += len(rows)
    for row in rows:
        metrics.delivered(row["channel"], metrics.RELEASED)


# --- the senders' loop ----------------------------------------------------------------------------------

async def housekeeping(pool: asyncpg.Pool, settings: Settings, sms_provider: sms_module.SmsProvider,
                       agent: AcaPy | None, *, limit: int = 100) -> int:
    """One pass of the senders' loop: sweeps stale claims, announces due email retries, sends due SMS and
    DIDComm rows. Returns how many of those it claimed (a full claim: more may be due)."""
    after = stale_after(settings)
    await sweep_stale(pool, after)
    await announce_due_emails(pool, settings)
    return await send_texts(pool, sms_provider, agent, limit=limit, after=after)


async def run(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event, *,
              sms_provider: sms_module.SmsProvider | None = None, agent: AcaPy | None = None,
              limit: int = 100, idle_sleep: float = 0.5) -> None:
    """The senders' loop until `stop` is set: passes back to back while SMS/DIDComm rows are due, else a
    pass every `idle_sleep` seconds. Any number of workers may run it (claims are disjoint)."""
    sms_provider = sms_provider or sms_module.sms_provider(settings)
    own_agent = agent is None
    agent = agent or AcaPy(settings)
    log.info("senders' loop: retries and SMS via %s, DIDComm via %s (stale claims fail after %g s)",
             settings.sms_provider, settings.acapy_admin_url, settings.delivery_stale_after_seconds)
    health = Retrier("worker.senders", ("postgres",), log=log)
    try:
        while not stop.is_set():
            try:
                handled = await housekeeping(pool, settings, sms_provider, agent, limit=limit)
            except Exception as exc:  # noqa: BLE001 - PostgreSQL down (said once), or a bug (logged): retried
                await health.failed(exc, stop)
                continue
            health.progressed()
            if handled < limit:
                await pause(stop, idle_sleep)
    finally:
        if own_agent:
            await agent.close()
