"""Protocol behaviour: what an agent event (a webhook, or the same record read back by the reconciler's
poll) does to our tables, one handler per protocol switching on the record's state.

Idempotent on (topic, record id, state): the first application inserts its key into
`processed_agent_events` in the transaction that applies it; a replay (ACA-Py retrying a webhook, the
reconciler polling a state the webhook already brought) finds the key and changes nothing. The
exchange row is locked (FOR UPDATE) so a webhook and a poll of the same record serialise."""

import json
import logging
from datetime import UTC, datetime

import asyncpg

from agent.controller import documents
from agent.controller.acapy import AcaPy, AgentError, AgentUnavailable
from backend.app.core.db import from_jsonb

log = logging.getLogger("identity.handlers")

TOPICS = {"connections", "connection_reuse", "issue_credential_v2_0", "present_proof_v2_0"}
FAILED_STATES = {"abandoned", "error", "deleted"}
CONNECTION_FAILED = {"abandoned", "error"}
CONNECTION_ACTIVE = ("active", "completed")
EXCHANGE_TOPICS = {"issue": "issue_credential_v2_0", "present": "present_proof_v2_0"}  # exchange kind -> topic


async def _first_time(db, topic: str, record_id: str, state: str, thread_id: str | None, source: str) -> bool:
    return await db.fetchval(
        "INSERT INTO processed_agent_events (topic, record_id, state, thread_id, source) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT DO NOTHING RETURNING true", topic, record_id, state, thread_id, source) is not None


async def record_sent(db, topic: str, record_id: str, state: str | None, thread_id: str | None) -> None:
    """The state the agent answered a send with (offer-sent, request-sent) is applied by the caller, in
    the transaction that writes the exchange row: its webhook, arriving before or after that commit,
    is then a replay rather than a first application that depends on the timing."""
    if state:
        await _first_time(db, topic, record_id, state, thread_id, "sent")


async def _finish(db, thread_id: str, state: str, agent_state: str, *, reason: str | None = None,
                  result: dict | None = None, record_id: str | None = None) -> None:
    await db.execute(
        "UPDATE identity_exchanges SET state = $2, agent_state = $3, failure_reason = $4, "
        "result = coalesce($5::jsonb, result), record_id = coalesce($6, record_id), updated_at = now() "
        "WHERE thread_id = $1 AND state = 'pending'",
        thread_id, state, agent_state, reason, json.dumps(result) if result is not None else None, record_id)


async def _progress(db, thread_id: str, agent_state: str) -> None:
    await db.execute("UPDATE identity_exchanges SET agent_state = $2, updated_at = now() "
                     "WHERE thread_id = $1 AND state = 'pending'", thread_id, agent_state)


def _attached(record: dict, part: str, attachment_format: str):
    """An attachment of a v2 exchange record (by_format.<part>.<format>), or None."""
    return ((record.get("by_format") or {}).get(part) or {}).get(attachment_format)


def _ended(what: str, state: str, record: dict) -> str:
    return f"{what} ended in state {state}: {record.get('error_msg') or 'no reason given'}"


async def apply_event(pool: asyncpg.Pool, acapy: AcaPy, topic: str, record: dict, source: str = "webhook") -> bool:
    """Applies one agent event; True if it changed anything (False: not ours, or already applied)."""
    if topic not in TOPICS or not (record.get("state") or topic == "connection_reuse"):
        return False
    async with pool.acquire() as db, db.transaction():
        if topic == "connections":
            return await _connection(db, acapy, record, source)
        if topic == "connection_reuse":
            return await _reuse(db, acapy, record, source)
        if topic == "issue_credential_v2_0":
            return await _issue(db, acapy, record, source)
        return await _present(db, acapy, record, source)


async def _exchange_for(db, kind: str, record_id: str):
    return await db.fetchrow(
        "SELECT * FROM identity_exchanges WHERE kind = $1 AND (record_id = $2 OR payload->'previous_records' ? $2) "
        "FOR UPDATE", kind, record_id)


def _superseded(exchange, record_id: str) -> bool:
    """A record of an earlier attempt (re-sent since): its end is not the exchange's, unless it completes."""
    return exchange["record_id"] != record_id


# --- connections (DID Exchange 1.1 after an OOB invitation) ---------------------------------------

REUSED_BY_ANOTHER = ("the wallet answered by reusing a connection that belongs to another member: accept the "
                     "invitation without reusing that connection")


def _refusal(exchange) -> str | None:
    """Why a new DID Exchange request on this invitation is refused (what the wallet shows), or None: each
    invitation connects one wallet, once, before it expires."""
    again = "ask the fitmint app for a new invitation"
    if exchange["state"] == "done" or exchange["record_id"] is not None:
        return f"this invitation was already used to connect a wallet: {again}"
    if exchange["deadline"] <= datetime.now(UTC):
        return f"this invitation expired at {exchange['deadline'].isoformat(timespec='seconds')}: {again}"
    if exchange["state"] == "failed":
        return f"this invitation is no longer valid ({exchange['failure_reason']}): {again}"
    return None


async def _refuse(db, acapy: AcaPy, exchange, record: dict, reason: str) -> None:
    """Refuses the request (the wallet gets a problem-report with `reason`) and shows the attempt to the
    member: a failed `connection` exchange of its own, on the request's thread (the one the wallet sees)."""
    connection_id, invitation = record["connection_id"], exchange["thread_id"]
    await acapy.refuse_request(connection_id, reason)
    await db.execute(
        "INSERT INTO identity_exchanges (thread_id, kind, tenant_id, user_id, connection_id, state, agent_state, "
        "deadline, failure_reason, payload) VALUES ($1, 'connection', $2, $3, $4, 'failed', 'abandoned', now(), $5, "
        "$6::jsonb) ON CONFLICT (thread_id) DO NOTHING", record.get("request_id") or connection_id,
        exchange["tenant_id"], exchange["user_id"], connection_id,
        f"a wallet's connection request ({record.get('their_label') or 'no label'}) on invitation {invitation} was "
        f"refused: {reason}", json.dumps({"refused_for": invitation}))
    log.info("connection request %s on invitation %s (member %s) refused: %s", connection_id, invitation,
             exchange["user_id"], reason)


async def _connection(db, acapy: AcaPy, record: dict, source: str) -> bool:
    invitation = record.get("invitation_msg_id")
    connection_id, state = record.get("connection_id"), record["state"]
    if not invitation or not connection_id or state in ("invitation", "init"):
        # `invitation`: the multi-use invitation's own record; `init`: a record the agent made for a request
        # before saving the request on it (`request`, when it is ours to accept or refuse).
        return False
    exchange = await db.fetchrow("SELECT * FROM identity_exchanges WHERE thread_id = $1 AND kind = 'connection' "
                                 "FOR UPDATE", invitation)
    if exchange is None:
        return False  # not an invitation of ours
    # Keyed by invitation too: a wallet reusing its connection brings the same record, in the same
    # state, for a new invitation.
    if not await _first_time(db, "connections", f"{connection_id}@{invitation}", state, invitation, source):
        return False
    if await db.fetchval("SELECT true FROM identity_exchanges WHERE connection_id = $1 AND payload->>'refused_for' "
                         "= $2", connection_id, invitation):
        return True  # a request we refused: its record's end (abandoned) changes nothing
    # A wallet's DID Exchange request on the invitation: ours to accept or refuse (a late replay of the
    # accepted one's `request` is not a new request).
    if state == "request" and exchange["record_id"] != connection_id:
        if (reason := _refusal(exchange)) is not None:
            await _refuse(db, acapy, exchange, record, reason)
            return True
        await acapy.accept_request(connection_id)
    owner = await db.fetchval("SELECT user_id FROM didcomm_connections WHERE connection_id = $1", connection_id)
    if owner is not None and owner != exchange["user_id"]:
        await _finish(db, invitation, "failed", state, reason=REUSED_BY_ANOTHER)
        return True
    if state == "deleted":
        # ACA-Py replaces the record it made for the invitation by the one of the accepted request, and
        # deletes the first: not the end of the exchange (a member deleting a connection is recorded).
        await db.execute("UPDATE didcomm_connections SET state = 'deleted', updated_at = now() "
                         "WHERE connection_id = $1", connection_id)
        return True
    # Webhooks are applied in background tasks and may arrive out of order: a late `request` or `response`
    # never moves an active connection back (only an ending state replaces an active one).
    await db.execute(
        "INSERT INTO didcomm_connections (connection_id, tenant_id, user_id, invitation_msg_id, their_did, "
        "their_label, state) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (connection_id) DO UPDATE SET "
        "state = CASE WHEN didcomm_connections.state IN ('active', 'completed') "
        "AND EXCLUDED.state NOT IN ('abandoned', 'error') THEN didcomm_connections.state ELSE EXCLUDED.state END, "
        "their_did = coalesce(EXCLUDED.their_did, didcomm_connections.their_did), "
        "their_label = coalesce(EXCLUDED.their_label, didcomm_connections.their_label), updated_at = now()",
        connection_id, exchange["tenant_id"], exchange["user_id"], invitation, record.get("their_did"),
        record.get("their_label"), state)
    # The connection record is this exchange's agent record, unless an earlier invitation's exchange has
    # it already (a reused connection): then it is only named.
    reused = await db.fetchval("SELECT true FROM identity_exchanges WHERE record_id = $1 AND thread_id <> $2",
                               connection_id, invitation)
    record_id = None if reused else connection_id
    await db.execute("UPDATE identity_exchanges SET connection_id = $2, record_id = coalesce(record_id, $3), "
                     "updated_at = now() WHERE thread_id = $1", invitation, connection_id, record_id)
    if state in CONNECTION_ACTIVE:
        await _finish(db, invitation, "done", state, record_id=record_id,
                      result={"connection_id": connection_id, "their_did": record.get("their_did")})
    elif state in CONNECTION_FAILED:
        await _finish(db, invitation, "failed", state, reason=_ended("the connection", state, record))
    else:
        await _progress(db, invitation, state)
    log.info("connection %s (invitation %s, member %s): %s", connection_id, invitation, exchange["user_id"], state)
    return True


async def _reuse(db, acapy: AcaPy, record: dict, source: str) -> bool:
    """The wallet answered an invitation by reusing its existing connection (OOB handshake reuse): that
    connection now answers the invitation, as if it had just been made for it. ACA-Py's `connection_reuse`
    event names the reuse's thread and the connection, whose record the agent has just moved to the
    invitation it is reused for (its `out_of_band` event does not name the reuse's thread)."""
    connection_id, reuse_thread = record.get("connection_id"), record.get("thread_id")
    if not connection_id or not reuse_thread:
        return False
    connection = await acapy.connection(connection_id)
    invitation = connection.get("invitation_msg_id")
    if not invitation:
        return False
    changed = await _connection(db, acapy, {**connection, "invitation_msg_id": invitation}, source)
    # ACA-Py accepted the reuse on its own (reuse-accepted): if the connection is another member's, the wallet
    # is told on the reuse's thread that it did not count (once per reuse message).
    owner = await db.fetchval("SELECT user_id FROM didcomm_connections WHERE connection_id = $1", connection_id)
    member = await db.fetchval("SELECT user_id FROM identity_exchanges WHERE thread_id = $1 AND kind = 'connection'",
                               invitation)
    if None in (owner, member) or owner == member or not await _first_time(
            db, "connection_reuse", reuse_thread, "refused", invitation, source):
        return changed
    try:
        await acapy.report_problem(connection_id, reason=f"fitmint did not accept this: {REUSED_BY_ANOTHER}",
                                   code="reuse_not_accepted", thid=reuse_thread, pthid=invitation)
    except (AgentUnavailable, AgentError) as exc:
        log.warning("reuse of %s for %s: the wallet was not told: %s", connection_id, invitation, exc)
    return True


# --- issue-credential v2 (ld_proof) ---------------------------------------------------------------

async def _issue(db, acapy: AcaPy, record: dict, source: str) -> bool:
    cred_ex_id, state = record.get("cred_ex_id"), record["state"]
    exchange = await _exchange_for(db, "issue", cred_ex_id) if cred_ex_id else None
    if exchange is None:
        return False
    if not await _first_time(db, "issue_credential_v2_0", cred_ex_id, state, record.get("thread_id"), source):
        return False
    thread = exchange["thread_id"]
    if state in ("credential-issued", "done"):
        signed = _attached(record, "cred_issue", "ld_proof")
        if signed is None:
            try:  # webhooks may carry the record without the issued attachment: read it back
                full = await acapy.credential_exchange(cred_ex_id)
                signed = _attached(full.get("cred_ex_record", full), "cred_issue", "ld_proof")
            except (AgentUnavailable, AgentError) as exc:
                log.warning("issued credential of %s not read back: %s", thread, exc)
        if signed is not None:
            await db.execute("UPDATE issued_credentials SET document = $2::jsonb, signed = true "
                             "WHERE thread_id = $1", thread, json.dumps(signed))
        payload = from_jsonb(exchange["payload"])
        binding = payload.get("binding")
        if binding and exchange["state"] == "pending":
            credential_id = payload["credential"]["id"]
            await db.execute(
                "INSERT INTO wallet_bindings (tenant_id, user_id, address, holder_did, connection_id, credential_id) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING", exchange["tenant_id"], exchange["user_id"],
                binding["address"], binding["holder_did"], exchange["connection_id"], credential_id)
            await db.execute("UPDATE didcomm_connections SET holder_did = $2, updated_at = now() "
                             "WHERE connection_id = $1", exchange["connection_id"], binding["holder_did"])
        await _finish(db, thread, "done", state, result={"credential_id": payload["credential"]["id"],
                                                         "signed": signed is not None})
        await _progress_done(db, thread, state)
    elif state in FAILED_STATES:
        if _superseded(exchange, cred_ex_id):
            return True  # an offer we withdrew when re-sending: the new one decides
        await _finish(db, thread, "failed", state, reason=_ended("the credential exchange", state, record))
    else:
        await _progress(db, thread, state)
    log.info("credential exchange %s: %s", thread, state)
    return True


async def _progress_done(db, thread_id: str, agent_state: str) -> None:
    """A finished exchange still shows the agent's latest state (credential-issued, then done)."""
    await db.execute("UPDATE identity_exchanges SET agent_state = $2 WHERE thread_id = $1", thread_id, agent_state)


# --- present-proof v2 (DIF) -----------------------------------------------------------------------

async def _present(db, acapy: AcaPy, record: dict, source: str) -> bool:
    pres_ex_id, state = record.get("pres_ex_id"), record["state"]
    exchange = await _exchange_for(db, "present", pres_ex_id) if pres_ex_id else None
    if exchange is None:
        return False
    if state == "presentation-received":  # on every sight, webhook or poll: a failed try is the reconciler's
        await _verify_received(db, acapy, exchange, pres_ex_id)
        return True
    if not await _first_time(db, "present_proof_v2_0", pres_ex_id, state, record.get("thread_id"), source):
        return False
    thread = exchange["thread_id"]
    if state == "done":
        payload = from_jsonb(exchange["payload"])
        presentation = _attached(record, "pres", "dif")
        if presentation is None:
            try:  # a webhook without the presentation attached: read the record back
                full = await acapy.presentation_exchange(pres_ex_id)
                presentation = _attached(full, "pres", "dif")
                record = {**full, **record}
            except (AgentUnavailable, AgentError) as exc:
                log.warning("presentation of %s not read back: %s", thread, exc)
        credential_ids = [c.get("id") for c in _credentials_of(presentation) if c.get("id")]
        revoked = {r["credential_id"]: r["revoked_at"].isoformat() for r in await db.fetch(
            "SELECT credential_id, revoked_at FROM issued_credentials WHERE credential_id = ANY($1::text[]) "
            "AND revoked_at IS NOT NULL", credential_ids)}
        trusted = {r["did"] for r in await db.fetch(
            "SELECT did FROM identity_issuer UNION SELECT did FROM trusted_issuers WHERE tenant_id = $1",
            exchange["tenant_id"])}
        holder = await db.fetchval("SELECT holder_did FROM didcomm_connections WHERE connection_id = $1",
                                   exchange["connection_id"])
        verdict = documents.check_presentation(
            presentation, agent_verified=str(record.get("verified")).lower() == "true",
            agent_messages=record.get("verified_msgs"), credential_type=payload["credential_type"], trusted=trusted,
            revoked=revoked, expected_holder=holder)
        await _finish(db, thread, "done", state, result=verdict.as_result())
        log.info("presentation %s: %s", thread, "verified" if verdict.verified else f"refused: {verdict.reasons}")
        if exchange["state"] == "pending":
            await _answer_presentation(acapy, record, verdict, thread)
    elif state in FAILED_STATES:
        if _superseded(exchange, pres_ex_id) or exchange["state"] != "pending":
            return True  # a request we withdrew when re-sending, or a refused presentation's report
        await _finish(db, thread, "failed", state, reason=_ended("the presentation exchange", state, record))
    else:
        await _progress(db, thread, state)
    return True


async def _verify_received(db, acapy: AcaPy, exchange, pres_ex_id: str) -> None:
    """ACA-Py's own check of a received presentation, the wallet not told yet; the record's `done` webhook
    then runs ours and answers (`_answer_presentation`)."""
    if exchange["state"] != "pending":
        return
    await _progress(db, exchange["thread_id"], "presentation-received")
    try:
        await acapy.verify_presentation(pres_ex_id)
    except AgentError as exc:
        if exc.status != 409:  # 409: verified already (the webhook and a poll both saw it received)
            log.warning("presentation %s not verified by the agent: %s", exchange["thread_id"], exc)
    except AgentUnavailable as exc:
        log.warning("presentation %s not verified yet (the reconciler tries again): %s", exchange["thread_id"], exc)


async def _answer_presentation(acapy: AcaPy, record: dict, verdict, thread: str) -> None:
    """The wallet hears one answer on the thread: an ack when every check passed, else a problem-report with
    the reasons (its record ends abandoned with them). A record from before the controller answered itself
    (`auto_verify`) was acked by ACA-Py already: only a refusal is sent."""
    try:
        if not verdict.verified:
            await acapy.withdraw("present", record["pres_ex_id"], "fitmint refused this presentation: "
                                 + "; ".join(verdict.reasons))
        elif not record.get("auto_verify"):
            await acapy.acknowledge_presentation(record["pres_ex_id"])
    except (AgentUnavailable, AgentError) as exc:
        log.warning("presentation %s %s, the wallet not told: %s", thread,
                    "verified" if verdict.verified else "refused", exc)


def _credentials_of(presentation: dict | None) -> list[dict]:
    credentials = (presentation or {}).get("verifiableCredential") or []
    return [credentials] if isinstance(credentials, dict) else credentials
