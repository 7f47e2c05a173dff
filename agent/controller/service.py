"""Orchestration: what the member-facing endpoints and the reconciler do, on our tables and through the
agent's admin API (acapy.py). Protocol behaviour on agent events lives in handlers.py.

Every exchange is a row of `identity_exchanges` with a deadline, written in the same transaction that
records what we sent, so the reconciler finds it even if the API process dies right after the call."""

import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from agent.controller import documents
from agent.controller.acapy import AcaPy, AgentError, AgentUnavailable
from agent.controller.handlers import CONNECTION_ACTIVE, EXCHANGE_TOPICS, record_sent
from agent.controller.status import StatusLists
from backend.app.core.config import Settings
from backend.app.core.db import from_jsonb
from backend.app.notifications import store
from fitmint import events as ev

log = logging.getLogger("identity")

ISSUER_LOCK = 0x666D6964  # pg_advisory_xact_lock key: "create our issuer DID once"


class Refused(Exception):
    """An identity request refused; `status` is the HTTP status, the message the reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


def exchange_view(row) -> dict:
    payload = from_jsonb(row["payload"]) or {}
    view = {"thread_id": row["thread_id"], "kind": row["kind"], "state": row["state"],
            "agent_state": row["agent_state"], "connection_id": row["connection_id"], "attempts": row["attempts"],
            "deadline": row["deadline"].isoformat(), "failure_reason": row["failure_reason"],
            "result": from_jsonb(row["result"]), "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat()}
    if row["kind"] == "connection":
        view["invitation"] = payload.get("invitation")
        view["invitation_url"] = payload.get("invitation_url")
    elif row["kind"] == "issue":
        view["credential_id"] = payload.get("credential", {}).get("id")
        view["credential_kind"] = payload.get("credential_kind")
    else:
        view["purpose"] = payload.get("purpose")
        view["credential_type"] = payload.get("credential_type")
    return view


class Identity:
    def __init__(self, pool: asyncpg.Pool, acapy: AcaPy, settings: Settings):
        self.pool, self.acapy, self.settings = pool, acapy, settings
        self.status = StatusLists(pool, acapy, settings)
        self._issuer: str | None = None

    # --- our issuer DID ---------------------------------------------------------------------------

    async def issuer_did(self) -> str:
        if self._issuer is None:
            async with self.pool.acquire() as connection, connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", ISSUER_LOCK)
                did = await connection.fetchval("SELECT did FROM identity_issuer")
                if did is None:
                    did = await self.acapy.create_did_key()
                    await connection.execute("INSERT INTO identity_issuer (did) VALUES ($1)", did)
                    log.info("created our issuer DID %s", did)
            self._issuer = did
        return self._issuer

    # --- connections -------------------------------------------------------------------------------

    async def create_invitation(self, tenant_id: str, user_id: str) -> dict:
        created = await self.acapy.create_invitation(label="fitmint", alias=f"member {user_id}",
                                                     fresh_did=self.settings.identity_invitation_did == "fresh")
        invitation = created["invitation"]
        deadline = datetime.now(UTC) + timedelta(seconds=self.settings.identity_invitation_ttl_seconds)
        row = await self.pool.fetchrow(
            "INSERT INTO identity_exchanges (thread_id, kind, tenant_id, user_id, agent_state, deadline, payload) "
            "VALUES ($1, 'connection', $2::uuid, $3::uuid, $4, $5, $6::jsonb) RETURNING *",
            created["invi_msg_id"], tenant_id, user_id, created.get("state"), deadline,
            json.dumps({"invitation": invitation, "invitation_url": created.get("invitation_url"),
                        "oob_id": created.get("oob_id")}))
        return exchange_view(row)

    async def connections(self, user_id: str) -> list[dict]:
        rows = await self.pool.fetch(
            "SELECT connection_id, invitation_msg_id, their_did, their_label, holder_did, state, created_at, "
            "updated_at FROM didcomm_connections WHERE user_id = $1::uuid ORDER BY created_at DESC", user_id)
        return [{**dict(r), "created_at": r["created_at"].isoformat(), "updated_at": r["updated_at"].isoformat()}
                for r in rows]

    async def connection(self, connection_id: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow("SELECT * FROM didcomm_connections WHERE connection_id = $1", connection_id)

    @staticmethod
    def require_active(connection) -> None:
        if connection["state"] not in CONNECTION_ACTIVE:
            raise Refused(409, f"connection {connection['connection_id']} is {connection['state']}, not active")

    # --- credentials -------------------------------------------------------------------------------

    async def _tenant_slug(self, tenant_id: str) -> str:
        return await self.pool.fetchval("SELECT slug FROM tenants WHERE id = $1::uuid", tenant_id)

    async def _open_exchange(self, db, kind: str, connection, sent: dict, record_key: str, payload: dict):
        """The exchange row of an offer or proof request the agent just sent (`sent`, its record under
        `record_key`), with the agent state that answer applied (handlers.record_sent)."""
        deadline = datetime.now(UTC) + timedelta(seconds=self.settings.identity_exchange_timeout_seconds)
        row = await db.fetchrow(
            "INSERT INTO identity_exchanges (thread_id, kind, tenant_id, user_id, connection_id, record_id, "
            "agent_state, deadline, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) RETURNING *",
            sent["thread_id"], kind, connection["tenant_id"], connection["user_id"], connection["connection_id"],
            sent[record_key], sent.get("state"), deadline, json.dumps(payload))
        await record_sent(db, EXCHANGE_TOPICS[kind], sent[record_key], sent.get("state"), sent["thread_id"])
        return row

    async def _issue(self, connection, kind: str, credential: dict, extra: dict) -> dict:
        """Offers `credential` over the connection and records the exchange and the credential."""
        sent = await self.acapy.send_credential(connection["connection_id"], credential,
                                                proof_type=documents.PROOF_TYPE)
        payload = {"credential": credential, "credential_kind": kind, **extra}
        async with self.pool.acquire() as db, db.transaction():
            row = await self._open_exchange(db, "issue", connection, sent, "cred_ex_id", payload)
            await db.execute(
                "INSERT INTO issued_credentials (credential_id, tenant_id, user_id, kind, subject_did, thread_id, "
                "document) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)", credential["id"], connection["tenant_id"],
                connection["user_id"], kind, credential["credentialSubject"]["id"], sent["thread_id"],
                json.dumps(credential))
        return exchange_view(row)

    async def _new_status(self) -> tuple[str, dict]:
        """A new credential id and its status entry: a bit of a published list, allocated for good."""
        credential_id = documents.new_credential_id()
        list_id, entry = await self.status.allocate(credential_id)
        await self.status.publish(list_id)  # a new list (or one left behind): signed before anyone needs it
        return credential_id, entry

    async def bind_wallet(self, connection, holder_did: str, address: str) -> dict:
        self.require_active(connection)
        issuer = await self.issuer_did()
        slug = await self._tenant_slug(str(connection["tenant_id"]))
        credential_id, status = await self._new_status()
        credential = documents.wallet_binding(issuer, holder_did, self.settings.chain_id, address.lower(), slug,
                                              credential_id=credential_id, status=status)
        return await self._issue(connection, "WalletBinding", credential,
                                 {"binding": {"address": address.lower(), "holder_did": holder_did}})

    async def distance_km(self, user_id: str) -> float:
        meters = await self.pool.fetchval(
            "SELECT coalesce(sum(distance_m), 0) FROM workouts WHERE user_id = $1::uuid AND status = 'accepted'",
            user_id)
        return float(meters) / 1000

    async def issue_achievement(self, connection, code: str) -> dict:
        self.require_active(connection)
        achievement = documents.ACHIEVEMENTS.get(code)
        if achievement is None:
            raise Refused(422, f"unknown achievement {code!r}; known: {', '.join(documents.ACHIEVEMENTS)}")
        if connection["holder_did"] is None:
            raise Refused(409, "this connection has no bound holder DID yet: bind a wallet first "
                               "(POST /identity/bindings)")
        total = await self.distance_km(str(connection["user_id"]))
        if total < achievement.threshold_km:
            raise Refused(409, f"not earned: {total:.3f} km of accepted workouts, {code} needs "
                               f"{achievement.threshold_km:g} km")
        issuer = await self.issuer_did()
        slug = await self._tenant_slug(str(connection["tenant_id"]))
        credential_id, status = await self._new_status()
        credential = documents.fitness_achievement(issuer, connection["holder_did"], achievement, total, slug,
                                                   credential_id=credential_id, status=status)
        return await self._issue(connection, "FitnessAchievement", credential, {"achievement": code})

    async def credentials(self, user_id: str) -> list[dict]:
        rows = await self.pool.fetch(
            "SELECT credential_id, kind, subject_did, thread_id, signed, issued_at, revoked_at, document "
            "FROM issued_credentials WHERE user_id = $1::uuid ORDER BY issued_at DESC", user_id)
        return [{"credential_id": r["credential_id"], "kind": r["kind"], "subject_did": r["subject_did"],
                 "thread_id": r["thread_id"], "signed": r["signed"], "issued_at": r["issued_at"].isoformat(),
                 "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None,
                 "document": from_jsonb(r["document"])} for r in rows]

    async def issued_credential(self, credential_id: str):
        return await self.pool.fetchrow("SELECT * FROM issued_credentials WHERE credential_id = $1", credential_id)

    async def revoke(self, credential_id: str, by: str) -> dict:
        """Revokes the credential (our table and its status bit), then re-signs its status list: if the
        agent cannot sign now, the reconciler does on its next pass (`status.published` says which)."""
        async with self.pool.acquire() as db, db.transaction():
            lists = await revoke_credentials(db, [credential_id], by)
        published = await self.publish_quietly(lists)
        row = await self.pool.fetchrow(
            "SELECT c.credential_id, c.kind, c.revoked_at, c.revoked_by, l.url, e.status_index "
            "FROM issued_credentials c LEFT JOIN status_list_entries e USING (credential_id) "
            "LEFT JOIN status_lists l USING (list_id) WHERE c.credential_id = $1", credential_id)
        status = None if row["url"] is None else {
            "status_list_credential": row["url"], "status_list_index": row["status_index"], "published": published}
        return {"credential_id": row["credential_id"], "kind": row["kind"], "revoked_at": row["revoked_at"].isoformat(),
                "revoked_by": row["revoked_by"], "status": status}

    async def revoked_per_status(self, entry) -> tuple[bool, str | None]:
        """(whether `entry` names one of our status lists, when its bit was set if it is). Only our own
        lists: the API fetches no URL a caller names."""
        if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
            return False, None
        url, index = entry.get("statusListCredential"), str(entry.get("statusListIndex", ""))
        if not isinstance(url, str) or len(url) > 2000 or not re.fullmatch(r"[0-9]{1,9}", index):
            return False, None
        ours, revoked_at = await self.status.revoked_at(url, int(index))
        return ours, revoked_at.isoformat() if revoked_at else None

    async def publish_quietly(self, lists: list[int]) -> bool:
        """Re-signs `lists` now; False (logged) if the agent cannot: the reconciler's pass catches up."""
        try:
            for list_id in lists:
                await self.status.publish(list_id)
        except (AgentUnavailable, AgentError) as exc:
            log.warning("status lists %s not re-signed now (the reconciler will): %s", lists, exc)
            return False
        return True

    # --- trusted issuers ---------------------------------------------------------------------------

    async def trust(self, tenant_id: str, did: str, name: str, by: str) -> dict:
        row = await self.pool.fetchrow(
            "INSERT INTO trusted_issuers (tenant_id, did, name, added_by) VALUES ($1::uuid, $2, $3, $4) "
            "ON CONFLICT (tenant_id, did) DO UPDATE SET name = EXCLUDED.name RETURNING did, name, added_by, created_at",
            tenant_id, did, name, by)
        return {**dict(row), "created_at": row["created_at"].isoformat()}

    async def trusted_issuers(self, tenant_id: str) -> list[dict]:
        own = await self.pool.fetchval("SELECT did FROM identity_issuer")
        rows = await self.pool.fetch("SELECT did, name, added_by, created_at FROM trusted_issuers "
                                     "WHERE tenant_id = $1::uuid ORDER BY created_at", tenant_id)
        listed = [{**dict(r), "created_at": r["created_at"].isoformat()} for r in rows]
        if own is not None:
            listed.insert(0, {"did": own, "name": "fitmint (our own issuer, always trusted)", "added_by": "platform",
                              "created_at": None})
        return listed

    # --- presentations and gates -------------------------------------------------------------------

    async def gate(self, gate: str):
        return await self.pool.fetchrow("SELECT * FROM identity_gates WHERE gate = $1", gate)

    async def request_presentation(self, connection, gate) -> dict:
        self.require_active(connection)
        definition = documents.presentation_definition(gate["credential_type"], gate["description"])
        challenge = str(uuid.uuid4())
        sent = await self.acapy.send_proof_request(connection["connection_id"], definition, challenge=challenge,
                                                   domain=self.settings.siwe_domain)
        payload = {"purpose": gate["gate"], "credential_type": gate["credential_type"], "definition": definition}
        async with self.pool.acquire() as db, db.transaction():
            row = await self._open_exchange(db, "present", connection, sent, "pres_ex_id", payload)
        return exchange_view(row)

    async def authorize_gate(self, user_id: str, gate) -> dict:
        """Allowed when the member's latest completed presentation of the gate's credential type was
        verified and is younger than the gate's max age (a later refused one withdraws the allowance;
        exchanges that failed or are pending prove nothing either way)."""
        latest = await self.pool.fetchrow(
            "SELECT *, updated_at > now() - make_interval(hours => $3) AS fresh FROM identity_exchanges "
            "WHERE user_id = $1::uuid AND kind = 'present' AND state = 'done' AND payload->>'credential_type' = $2 "
            "ORDER BY updated_at DESC LIMIT 1", user_id, gate["credential_type"], gate["max_age_hours"])
        result = (from_jsonb(latest["result"]) or {}) if latest is not None else {}
        if latest is not None and result.get("verified") and latest["fresh"]:
            return {"allowed": True, "gate": gate["gate"], "thread_id": latest["thread_id"],
                    "verified_at": latest["updated_at"].isoformat(), "result": result}
        reason = (f"{gate['gate']} needs a verified {gate['credential_type']} presentation from the last "
                  f"{gate['max_age_hours']} h (POST /identity/presentations)")
        if latest is None:
            reason += "; none completed yet"
        elif not result.get("verified"):
            reason += f"; the latest one ({latest['thread_id']}) was refused: " + "; ".join(result.get("reasons") or [])
        else:
            reason += f"; the latest verified one is from {latest['updated_at'].isoformat()}"
        raise Refused(403, reason)

    # --- exchanges ---------------------------------------------------------------------------------

    async def exchange(self, thread_id: str):
        return await self.pool.fetchrow("SELECT * FROM identity_exchanges WHERE thread_id = $1", thread_id)

    async def exchanges(self, user_id: str, limit: int = 100) -> list[dict]:
        rows = await self.pool.fetch("SELECT * FROM identity_exchanges WHERE user_id = $1::uuid "
                                     "ORDER BY created_at DESC LIMIT $2", user_id, limit)
        return [exchange_view(r) for r in rows]


async def revoke_credentials(db, credential_ids: list[str], by: str) -> list[int]:
    """Marks the credentials revoked (those not yet) and bumps the revision of their status lists, in the
    caller's transaction; returns the lists to re-sign."""
    revoked = await db.fetch(
        "UPDATE issued_credentials SET revoked_at = now(), revoked_by = $2 "
        "WHERE credential_id = ANY($1::text[]) AND revoked_at IS NULL RETURNING credential_id", credential_ids, by)
    lists = await db.fetch(
        "UPDATE status_lists SET revision = revision + 1 WHERE list_id IN (SELECT list_id FROM status_list_entries "
        "WHERE credential_id = ANY($1::text[])) RETURNING list_id", [r["credential_id"] for r in revoked])
    return sorted(r["list_id"] for r in lists)


async def revoke_wallet_bindings(db, tenant_id: str, user_id: str, address: str) -> list[int]:
    """In the caller's transaction (the wallet's unlinking): revokes every WalletBinding credential of the
    member that binds `address`, issued or still being issued, and tells the member in their inbox; returns
    the status lists to re-sign."""
    rows = await db.fetch(
        "SELECT credential_id FROM issued_credentials WHERE user_id = $1::uuid AND kind = 'WalletBinding' "
        "AND revoked_at IS NULL AND document->'credentialSubject'->>'wallet' LIKE 'did:pkh:eip155:%:' || $2",
        user_id, address.lower())
    ids = [r["credential_id"] for r in rows]
    if not ids:
        return []
    lists = await revoke_credentials(db, ids, "wallet unlinked")
    preferences = store.preferences_of(await db.fetchval("SELECT preferences FROM users WHERE id = $1::uuid", user_id))
    address = address.lower()

    def draft(cid: str) -> store.Draft:
        return store.Draft("credential.revoked", "Wallet binding revoked",
                           f"You unlinked {address}: the WalletBinding credential {cid} that bound it to your "
                           "DIDComm wallet is revoked; verifiers see it in its status list.",
                           {"credentialId": cid, "address": address})

    await store.queue_many(db, [store.Pending(str(tenant_id), str(user_id), ev.deterministic_id(f"revoked:{cid}"),
                                              draft(cid), preferences) for cid in ids])
    log.info("wallet %s unlinked by %s: revoked %s", address, user_id, ids)
    return lists
