"""The reconciler: the notifications worker runs it in the one replica holding a PostgreSQL advisory
lock. Every `identity_reconcile_interval_seconds` it reads each pending exchange's record back from the
agent's admin API and applies it as a webhook would (handlers.apply_event, idempotent), so a lost
webhook, an API restart or an agent restart converges. A pending exchange past its deadline is re-sent
once (a new offer or proof request on the same connection; the first record still counts if it
finishes) or, out of attempts or when its credential was revoked meanwhile, marked failed with the reason.
Never left hanging: a wallet's DID Exchange request still unanswered (on an invitation used, expired or
still open) is answered too. Each pass also re-signs the credential status lists that a revocation left unsigned or
that are past half their validity (status.py)."""

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import asyncpg
from opentelemetry.context import Context

from agent.controller import documents, metrics
from agent.controller.acapy import AcaPy, AgentError, AgentUnavailable, NotFound
from agent.controller.handlers import CONNECTION_ACTIVE, EXCHANGE_TOPICS, apply_event, record_sent
from agent.controller.status import StatusLists
from backend.app.core.background import lead, pause
from backend.app.core.config import Settings
from backend.app.core.db import from_jsonb
from fitmint.telemetry import tracer

log = logging.getLogger("identity.reconciler")
RECONCILER_LOCK = 0x666D7263  # pg_advisory_lock key: "the identity reconciler"


async def _poll(pool, acapy: AcaPy, exchange) -> None:
    kind, record_id = exchange["kind"], exchange["record_id"]
    if kind == "connection":
        for record in await acapy.connections_for_invitation(exchange["thread_id"]):
            await apply_event(pool, acapy, "connections", record, source="poll")
    elif kind == "issue" and record_id:
        full = await acapy.credential_exchange(record_id)
        record = {**full.get("cred_ex_record", {})}
        await apply_event(pool, acapy, "issue_credential_v2_0", record, source="poll")
    elif kind == "present" and record_id:
        await apply_event(pool, acapy, "present_proof_v2_0", await acapy.presentation_exchange(record_id),
                          source="poll")


WHAT = {"issue": "credential offer", "present": "proof request"}  # exchange kind -> what the holder holds


async def _withdraw(acapy: AcaPy, kind: str, record_id: str | None, reason: str) -> None:
    """Best effort: the holder's copy of an offer or request we gave up on is abandoned with `reason` (a
    problem-report). A record the agent lost, or an agent down now, leaves it to the holder's own timeout."""
    if kind not in WHAT or not record_id:
        return
    try:
        await acapy.withdraw(kind, record_id, reason)
    except (AgentUnavailable, AgentError) as exc:
        log.warning("%s %s not withdrawn: %s", WHAT[kind], record_id, exc)


async def _fail(pool, acapy: AcaPy, exchange, reason: str) -> None:
    failed = await pool.fetchval("UPDATE identity_exchanges SET state = 'failed', failure_reason = $2, "
                                 "updated_at = now() WHERE thread_id = $1 AND state = 'pending' RETURNING true",
                                 exchange["thread_id"], reason)
    log.warning("exchange %s (%s) failed: %s", exchange["thread_id"], exchange["kind"], reason)
    if failed:  # no open request left behind in the holder's wallet
        await _withdraw(acapy, exchange["kind"], exchange["record_id"],
                        f"fitmint withdrew this {WHAT.get(exchange['kind'], 'exchange')}: {reason}")


async def _resend(pool, acapy: AcaPy, settings: Settings, exchange) -> None:
    """The offer or request again, as a new agent record on the same connection."""
    payload = from_jsonb(exchange["payload"])
    if exchange["kind"] == "issue":
        sent = await acapy.send_credential(exchange["connection_id"], payload["credential"],
                                           proof_type=documents.PROOF_TYPE)
        record_id = sent["cred_ex_id"]
    else:
        sent = await acapy.send_proof_request(exchange["connection_id"], payload["definition"],
                                              challenge=str(uuid4()), domain=settings.siwe_domain)
        record_id = sent["pres_ex_id"]
    deadline = datetime.now(UTC) + timedelta(seconds=settings.identity_exchange_timeout_seconds)
    async with pool.acquire() as db, db.transaction():
        await db.execute(
            "UPDATE identity_exchanges SET record_id = $2, attempts = attempts + 1, deadline = $3, agent_state = $4, "
            "payload = jsonb_set(payload, '{previous_records}', coalesce(payload->'previous_records', '[]') || "
            "to_jsonb($5::text)), updated_at = now() WHERE thread_id = $1 AND state = 'pending'",
            exchange["thread_id"], record_id, deadline, sent.get("state"), exchange["record_id"])
        await record_sent(db, EXCHANGE_TOPICS[exchange["kind"]], record_id, sent.get("state"), sent.get("thread_id"))
    log.info("exchange %s (%s) re-sent as %s (attempt %d)", exchange["thread_id"], exchange["kind"], record_id,
             exchange["attempts"] + 1)
    # The first one is withdrawn once the new one is out: the holder ends with one open request, not two.
    await _withdraw(acapy, exchange["kind"], exchange["record_id"],
                    f"fitmint replaced this {WHAT[exchange['kind']]} by a new one (thread {sent.get('thread_id')}): "
                    f"no answer came within {settings.identity_exchange_timeout_seconds} s. Answer the new one.")


async def reconcile_once(pool: asyncpg.Pool, acapy: AcaPy, settings: Settings) -> dict:
    """One pass over the pending exchanges; returns counts (polled, resent, failed, unreachable)."""
    tally = {"polled": 0, "resent": 0, "failed": 0, "unreachable": 0}
    for exchange in await pool.fetch("SELECT * FROM identity_exchanges WHERE state = 'pending' ORDER BY deadline"):
        started, outcome, current = time.time_ns(), None, exchange
        try:
            agent_lost = None
            try:
                await _poll(pool, acapy, exchange)
                tally["polled"] += 1
            except NotFound:
                agent_lost = "the agent has no record of this exchange any more"
            except AgentUnavailable as exc:
                tally["unreachable"] += 1
                agent_lost = f"the agent was unreachable: {exc}"
            except AgentError as exc:
                agent_lost = str(exc)
            except asyncpg.PostgresError as exc:  # one exchange's bad record must not stall every other one
                log.exception("exchange %s: applying the agent's record failed", exchange["thread_id"])
                agent_lost = f"applying the agent's record failed: {exc}"
            current = await pool.fetchrow("SELECT * FROM identity_exchanges WHERE thread_id = $1",
                                          exchange["thread_id"])
            if current["state"] != "pending" or current["deadline"] > datetime.now(UTC):
                continue
            seconds = (settings.identity_invitation_ttl_seconds if current["kind"] == "connection"
                       else settings.identity_exchange_timeout_seconds)
            waited = (f"no answer within {seconds} s (agent state {current['agent_state'] or 'unknown'}, "
                      f"attempt {current['attempts']} of {settings.identity_exchange_attempts})")
            if agent_lost:
                waited += f"; {agent_lost}"
            if current["kind"] == "connection":
                await _fail(pool, acapy, current, f"invitation not accepted: {waited}")
                tally["failed"] += 1
                outcome = "failed"
                continue
            connection_state = await pool.fetchval("SELECT state FROM didcomm_connections WHERE connection_id = $1",
                                                   current["connection_id"])
            revoked_by = await pool.fetchval(
                "SELECT revoked_by FROM issued_credentials WHERE thread_id = $1 AND revoked_at IS NOT NULL",
                current["thread_id"]) if current["kind"] == "issue" else None
            if revoked_by is not None:
                waited += f"; not re-sent: the credential was revoked meanwhile ({revoked_by})"
            elif current["attempts"] < settings.identity_exchange_attempts and connection_state in CONNECTION_ACTIVE:
                try:
                    await _resend(pool, acapy, settings, current)
                    tally["resent"] += 1
                    outcome = "resent"
                    continue
                except (AgentUnavailable, AgentError) as exc:
                    waited += f"; re-sending failed: {exc}"
            elif connection_state not in CONNECTION_ACTIVE:
                waited += f"; the connection is {connection_state}"
            await _fail(pool, acapy, current, waited)
            tally["failed"] += 1
            outcome = "failed"
        finally:
            _record(exchange, current, outcome, started)
    return tally


async def answer_waiting_requests(pool: asyncpg.Pool, acapy: AcaPy) -> int:
    """DID Exchange requests still waiting for our answer (their webhook lost, or answering failed) are
    applied as their webhook would be: accepted, or refused with the reason, so that no wallet waits in
    `request-sent` for an answer that never comes. How many were waiting."""
    try:
        waiting = await acapy.requests_received()
    except (AgentUnavailable, AgentError) as exc:
        log.warning("waiting connection requests not read this pass: %s", exc)
        return 0
    for record in waiting:
        try:
            await apply_event(pool, acapy, "connections", record, source="poll")
        except (AgentUnavailable, AgentError, asyncpg.PostgresError) as exc:
            log.warning("connection request %s not answered this pass: %s", record.get("connection_id"), exc)
    return len(waiting)


def _record(exchange, current, outcome: str | None, started: int) -> None:
    """A root span "reconcile exchange" for an exchange the pass moved (its state or agent state changed,
    it was re-sent or failed), spanning its handling. An exchange only looked at records nothing: a
    pending one is looked at every interval until its deadline."""
    if outcome is None and (current["state"], current["agent_state"]) == (exchange["state"], exchange["agent_state"]):
        return
    span = tracer().start_span("reconcile exchange", context=Context(), start_time=started, attributes={
        "fitmint.identity.thread_id": exchange["thread_id"], "fitmint.identity.kind": exchange["kind"],
        "fitmint.identity.outcome": outcome or "advanced", "fitmint.identity.state": current["state"],
        "fitmint.identity.agent_state": current["agent_state"] or ""})
    span.end()


async def republish(lists: StatusLists) -> None:
    """Status lists a revocation left unsigned (the agent was down then) or soon to expire are signed now."""
    try:
        if signed := await lists.publish_stale():
            log.info("re-signed %d status list(s) left behind or expiring", signed)
    except (AgentUnavailable, AgentError) as exc:
        log.warning("status lists not re-signed this pass: %s", exc)


async def run_reconciler(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event,
                         acapy: AcaPy | None = None) -> None:
    """Until `stop`: take the lock (one replica reconciles), then a pass every interval."""
    acapy = acapy or AcaPy(settings)
    interval = settings.identity_reconcile_interval_seconds
    lists = StatusLists(pool, acapy, settings)

    async def reconcile() -> None:
        log.info("reconciling identity exchanges every %g s against %s", interval, settings.acapy_admin_url)
        while not stop.is_set():
            tally = await reconcile_once(pool, acapy, settings)
            await answer_waiting_requests(pool, acapy)
            await republish(lists)
            metrics.observe(await pool.fetch(metrics.COUNT))
            if tally["resent"] or tally["failed"]:
                log.info("reconcile pass: %s", tally)
            await pause(stop, interval)

    try:
        await lead(pool, RECONCILER_LOCK, stop, reconcile, name="reconciler", retry_seconds=interval)
    finally:
        await acapy.close()
