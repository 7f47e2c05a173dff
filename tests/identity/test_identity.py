"""Issue 7: the identity controller on real processes: our ACA-Py agent and a holder agent (the member's
wallet, driven through its admin API where a wallet's user would choose), the API under uvicorn, the
worker running the reconciler and the DIDComm sender, a fresh database.

Connect -> bind the wallet (SIWE) -> earn and receive an achievement -> present it -> verified -> the
gated action is allowed; revoked, tampered and wrong-issuer credentials are refused with the reason (and
the wrong issuer accepted once trusted); our agent restarted mid-exchange settles cleanly; a replayed
webhook changes nothing; the admin API and our webhook endpoint refuse callers without the key."""

import asyncio
import copy
import json
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from agent.controller.interop import verify_with_didkit
from fitmint import events as ev
from tests.support.agents import HOLDER_FLAGS, Agent
from tests.support.api import a_run, db
from tests.support.signin import sign, siwe_message
from tests.support.waiting import wait_until

TIMINGS: dict[str, list[float]] = {}


def timed(name: str):
    class _Timer:
        def __enter__(self):
            self.start = time.monotonic()

        def __exit__(self, *exc):
            TIMINGS.setdefault(name, []).append(time.monotonic() - self.start)
    return _Timer()


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    print("\nidentity flow timings (s): " + ", ".join(
        f"{name} {min(v):.2f}..{max(v):.2f} (n={len(v)})" for name, v in TIMINGS.items()))


# --- the member's side ---------------------------------------------------------------------------

def connect(env, member) -> str:
    with timed("connect (invitation -> active)"):
        created = env.call("POST", "/identity/connections/invitations", member, 201)
        assert created["kind"] == "connection" and created["state"] == "pending"
        assert created["invitation"]["handshake_protocols"] == ["https://didcomm.org/didexchange/1.1"]
        # One holder agent plays every member's wallet here: a new connection each time, no handshake reuse.
        env.holder.post("/out-of-band/receive-invitation", created["invitation"], use_existing_connection="false")
        done = env.settled(member, created["thread_id"])
    assert done["state"] == "done", done
    connection_id = done["result"]["connection_id"]
    listed = env.call("GET", "/identity/connections", member)["data"]
    assert [c["connection_id"] for c in listed] == [connection_id] and listed[0]["state"] in ("active", "completed")
    return connection_id


def holder_did(env) -> str:
    return env.holder.post("/wallet/did/create", {"method": "key", "options": {"key_type": "ed25519"}})["result"]["did"]


def bind(env, member, connection_id: str, did: str, wallet=None) -> dict:
    """Binds `wallet` (default: the one the member signed in with) to `did` over the connection."""
    wallet = wallet or member["wallet"]
    message = siwe_message(env.http, env.settings, wallet, statement="Bind my wallet to my DIDComm wallet")
    with timed("wallet binding (SIWE -> credential issued)"):
        sent = env.call("POST", "/identity/bindings", member, 202, json={
            "connection_id": connection_id, "holder_did": did, "message": message,
            "signature": sign(message, wallet)})
        done = env.settled(member, sent["thread_id"])
    assert done["state"] == "done", done
    return done


def earn(env, member, km: float) -> None:
    for index in range(int(km // 10) + 1):
        part = min(10.0, km - index * 10)
        if part > 0:
            env.call("POST", "/fitness/workouts", member, 201, json=a_run(hours_ago=3 + 2 * index, km=part,
                                                                          minutes=int(part * 6)))


def achieve(env, member, connection_id: str, achievement: str = "distance-10k") -> dict:
    with timed("achievement issued (offer -> credential-issued)"):
        sent = env.call("POST", "/identity/credentials/achievements", member, 202,
                        json={"connection_id": connection_id, "achievement": achievement})
        done = env.settled(member, sent["thread_id"])
    assert done["state"] == "done", done
    return done


def holder_record(env, credential_id: str) -> dict:
    """The holder's stored copy of a credential (its wallet record)."""
    return wait_until(lambda: next((c for c in env.holder.get("/vc/credentials")["results"]
                                    if c.get("id") == credential_id), None), 10, what=f"{credential_id} stored")


def request_presentation(env, member, connection_id: str) -> dict:
    return env.call("POST", "/identity/presentations", member, 202,
                    json={"connection_id": connection_id, "purpose": "verified-athlete"})


def holder_presents(env, thread_id: str, credential_id: str) -> None:
    """The wallet answers the proof request with the credential its user picked (among those that match)."""
    request = wait_until(lambda: next(iter(env.holder.get("/present-proof-2.0/records", thread_id=thread_id)
                                           ["results"]), None), 10, what="proof request received")
    matching = env.holder.get(f"/present-proof-2.0/records/{request['pres_ex_id']}/credentials")
    record_id = next(c["record_id"] for c in matching if c.get("id") == credential_id)
    env.holder.post(f"/present-proof-2.0/records/{request['pres_ex_id']}/send-presentation",
                    {"dif": {"record_ids": {"credential": [record_id]}}})


def present(env, member, connection_id: str, credential_id: str) -> dict:
    with timed("presentation (request -> verified by us)"):
        sent = request_presentation(env, member, connection_id)
        holder_presents(env, sent["thread_id"], credential_id)
        done = env.settled(member, sent["thread_id"])
    assert done["state"] == "done", done
    return done


def authorize(env, member, expect: int) -> dict:
    return env.call("POST", "/identity/gates/verified-athlete/authorize", member, expect)


@pytest.fixture(scope="module")
def athlete(env):
    """A member with a connection, a bound holder DID and a 10 km achievement credential."""
    member = env.member()
    connection_id = connect(env, member)
    did = holder_did(env)
    binding = bind(env, member, connection_id, did)
    earn(env, member, 12)
    issued = achieve(env, member, connection_id)
    return {**member, "connection_id": connection_id, "holder_did": did, "binding": binding,
            "credential_id": issued["credential_id"]}


@pytest.fixture(scope="module")
def admin(env):
    return env.member(role="admin")


# --- the flows -----------------------------------------------------------------------------------

def test_connect_bind_issue_present_then_the_gated_action_is_allowed(env, athlete):
    authorize(env, athlete, 403)  # nothing presented yet
    binding = env.call("GET", "/identity/credentials", athlete)["data"]
    kinds = {c["kind"]: c for c in binding}
    assert set(kinds) == {"WalletBinding", "FitnessAchievement"} and all(c["signed"] for c in binding)
    for credential in binding:  # the interop check: what our agent issued verifies in didkit
        verdict = asyncio.run(verify_with_didkit(credential["document"]))
        assert verdict.ok, (credential["kind"], verdict.errors)
    wallet = kinds["WalletBinding"]["document"]["credentialSubject"]
    assert wallet == {"id": athlete["holder_did"], "chainId": env.settings.chain_id, "tenant": "fitmint",
                      "wallet": f"did:pkh:eip155:{env.settings.chain_id}:{athlete['wallet'].address.lower()}"}
    document = kinds["FitnessAchievement"]["document"]
    assert document["proof"]["type"] == "Ed25519Signature2020"
    assert isinstance(document["@context"][1], dict)  # our context inline: nothing to resolve
    assert document["credentialSubject"]["totalDistanceKm"] == 12.0
    assert db(env.settings, "SELECT count(*) FROM wallet_bindings WHERE user_id = $1::uuid",
              athlete["user_id"])[0][0] == 1

    holder_record(env, athlete["credential_id"])
    verified = present(env, athlete, athlete["connection_id"], athlete["credential_id"])
    assert verified["result"]["verified"] is True, verified
    assert verified["result"]["holder"] == athlete["holder_did"]
    allowed = authorize(env, athlete, 200)
    assert allowed["allowed"] is True and allowed["thread_id"] == verified["thread_id"]
    listed = env.call("GET", "/identity/exchanges", athlete)["data"]
    assert {x["kind"] for x in listed} == {"connection", "issue", "present"}
    assert all(x["state"] == "done" for x in listed)


def test_an_achievement_not_earned_is_refused_with_the_reason(env, athlete):
    refused = env.call("POST", "/identity/credentials/achievements", athlete, 409,
                       json={"connection_id": athlete["connection_id"], "achievement": "distance-marathon"})
    assert "12.000 km" in refused["detail"] and "42.195 km" in refused["detail"]
    env.call("POST", "/identity/credentials/achievements", athlete, 422,
             json={"connection_id": athlete["connection_id"], "achievement": "distance-1m"})
    # A member without a bound DID is told to bind first; someone else's connection is not found.
    other = env.member()
    env.call("POST", "/identity/credentials/achievements", other, (403, 404),
             json={"connection_id": athlete["connection_id"], "achievement": "distance-10k"})


def test_a_revoked_credential_is_refused(env, admin):
    member = env.member()
    connection_id = connect(env, member)
    bind(env, member, connection_id, holder_did(env))
    earn(env, member, 11)
    credential_id = achieve(env, member, connection_id)["credential_id"]
    env.call("POST", f"/identity/credentials/{credential_id}/revoke", member, 403)  # members cannot
    revoked = env.call("POST", f"/identity/credentials/{credential_id}/revoke", admin)
    assert revoked["revoked_at"]
    refused = present(env, member, connection_id, holder_record(env, credential_id)["id"])
    assert refused["result"]["verified"] is False
    assert any("revoked" in reason for reason in refused["result"]["reasons"]), refused
    assert "revoked" in authorize(env, member, 403)["detail"]


def test_a_tampered_credential_is_refused(env, athlete):
    original = holder_record(env, athlete["credential_id"])
    forged = copy.deepcopy(original)
    forged["credentialSubject"]["totalDistanceKm"] = 500.0  # the claim changed after signing
    forged["id"] = f"urn:uuid:{uuid.uuid4()}"  # stored beside the original (the wallet keys records by id)
    env.holder.post("/vc/credentials/store", {"verifiableCredential": forged, "options": {"skipVerification": True}})
    refused = present(env, athlete, athlete["connection_id"], holder_record(env, forged["id"])["id"])
    assert refused["result"]["verified"] is False
    assert any("signature check failed" in reason for reason in refused["result"]["reasons"]), refused


def test_a_wrong_issuer_is_refused_until_the_tenant_trusts_it(env, athlete, admin):
    other_issuer = holder_did(env)  # a did:key the platform does not know
    credential = {"@context": ["https://www.w3.org/2018/credentials/v1",
                               json.loads(open("agent/contexts/fitmint-v1.json").read())["@context"]],
                  "id": f"urn:uuid:{uuid.uuid4()}", "type": ["VerifiableCredential", "FitnessAchievement"],
                  "issuer": other_issuer, "issuanceDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "credentialSubject": {"id": athlete["holder_did"], "achievement": "partner-marathon",
                                        "achievementName": "A partner club's marathon", "totalDistanceKm": 42.195}}
    signed = env.holder.post("/vc/credentials/issue", {"credential": credential,
                                                       "options": {"proofType": "Ed25519Signature2020"}})
    env.holder.post("/vc/credentials/store", {"verifiableCredential": signed["verifiableCredential"]})
    record_id = holder_record(env, credential["id"])["id"]

    refused = present(env, athlete, athlete["connection_id"], record_id)
    assert refused["result"]["verified"] is False
    assert refused["result"]["reasons"] == [f"credential {credential['id']}: issuer {other_issuer} is not a "
                                            "trusted issuer"], refused
    assert "not a trusted issuer" in authorize(env, athlete, 403)["detail"]

    env.call("POST", "/identity/trusted-issuers", athlete, 403, json={"did": other_issuer, "name": "Partner club"})
    env.call("POST", "/identity/trusted-issuers", admin, 201, json={"did": other_issuer, "name": "Partner club"})
    trusted = env.call("GET", "/identity/trusted-issuers", admin)["data"]
    assert [t["did"] for t in trusted][1:] == [other_issuer] and trusted[0]["added_by"] == "platform"
    accepted = present(env, athlete, athlete["connection_id"], record_id)
    assert accepted["result"]["verified"] is True, accepted
    assert accepted["result"]["credentials"][0]["issuer"] == other_issuer
    assert authorize(env, athlete, 200)["thread_id"] == accepted["thread_id"]


def test_a_replayed_webhook_changes_nothing(env, athlete):
    exchanges = env.call("GET", "/identity/exchanges", athlete)["data"]
    presented = next(x for x in exchanges if x["kind"] == "present" and x["state"] == "done")
    record_id = db(env.settings, "SELECT record_id FROM identity_exchanges WHERE thread_id = $1",
                   presented["thread_id"])[0][0]
    record = env.ours.get(f"/present-proof-2.0/records/{record_id}")

    def snapshot():
        return (db(env.settings, "SELECT * FROM identity_exchanges ORDER BY thread_id"),
                db(env.settings, "SELECT topic, record_id, state FROM processed_agent_events ORDER BY 1, 2, 3"),
                db(env.settings, "SELECT * FROM issued_credentials ORDER BY 1"))

    before = snapshot()
    url = "/agent/webhooks/topic/present_proof_v2_0/"
    key = {"X-API-Key": env.ours.admin_key}
    for state in ("done", "request-sent", "presentation-received", "done"):  # replays, old states, again
        response = env.http.post(url, json={**record, "state": state, "verified": "false"}, headers=key)
        assert response.status_code == 200, response.text
    time.sleep(1.5)  # applied after the answer: give it time, then nothing must have changed
    assert snapshot() == before
    assert env.exchange(athlete, presented["thread_id"])["result"] == presented["result"]


def test_a_late_webhook_never_moves_an_active_connection_back(env, athlete):
    """ACA-Py's webhooks are applied in background tasks, so `request` may be applied after `active`."""
    record = env.ours.get(f"/connections/{athlete['connection_id']}")
    record_key = f"{athlete['connection_id']}@{record['invitation_msg_id']}"
    applied = ("SELECT 1 FROM processed_agent_events WHERE topic = 'connections' AND record_id = $1 "
               "AND state = 'request'")
    # As if `request` had not been applied yet: its webhook now comes first-time, after `active`.
    db(env.settings, "DELETE FROM processed_agent_events WHERE topic = 'connections' AND record_id = $1 "
                     "AND state = 'request'", record_key)
    response = env.http.post("/agent/webhooks/topic/connections/", json={**record, "state": "request"},
                             headers={"X-API-Key": env.ours.admin_key})
    assert response.status_code == 200, response.text
    wait_until(lambda: db(env.settings, applied, record_key), 10, what="the late webhook applied")
    connections = env.call("GET", "/identity/connections", athlete)["data"]
    assert next(c for c in connections if c["connection_id"] == athlete["connection_id"])["state"] in (
        "active", "completed")


def test_the_webhook_endpoint_and_the_agent_admin_api_need_the_key(env):
    url = "/agent/webhooks/topic/connections/"
    assert env.http.post(url, json={"state": "active"}).status_code == 401
    assert env.http.post(url, json={"state": "active"}, headers={"X-API-Key": "wrong"}).status_code == 401
    for path in ("/status", "/connections", "/wallet/did"):
        assert httpx.get(env.ours.admin_url + path, timeout=5).status_code == 401
        assert httpx.get(env.ours.admin_url + path, headers={"X-API-Key": "wrong"}, timeout=5).status_code == 401
        assert httpx.get(env.ours.admin_url + path, headers=env.ours.headers, timeout=5).status_code == 200


def test_our_agent_restarted_mid_exchange_settles_cleanly(env, athlete):
    """The proof request is out; our agent dies (SIGKILL) before the wallet answers and comes back: the
    exchange completes (webhook or the reconciler's poll) or fails with its reason, never hangs."""
    started = time.monotonic()
    sent = request_presentation(env, athlete, athlete["connection_id"])
    wait_until(lambda: env.holder.get("/present-proof-2.0/records", thread_id=sent["thread_id"])["results"], 10,
               what="proof request received")
    env.ours.kill()
    holder_presents(env, sent["thread_id"], athlete["credential_id"])  # sent while our agent is down
    down = env.exchange(athlete, sent["thread_id"])
    assert down["state"] == "pending"
    time.sleep(1)
    env.ours.start()
    settled = env.settled(athlete, sent["thread_id"], timeout=60)
    TIMINGS.setdefault("agent restart mid-exchange -> settled", []).append(time.monotonic() - started)
    print(f"\nrestart mid-exchange: {settled['state']} after {settled['attempts']} attempt(s): "
          f"{settled['failure_reason'] or settled['result']}")
    if settled["state"] == "failed":
        assert settled["failure_reason"], settled
    else:
        assert settled["state"] == "done" and "verified" in settled["result"], settled
    # The agent works again: a fresh presentation verifies.
    again = present(env, athlete, athlete["connection_id"], athlete["credential_id"])
    assert again["state"] == "done"


def test_a_stalled_exchange_is_resent_then_failed_with_the_reason(env, athlete):
    """The wallet never answers: re-sent once after the deadline, then failed with the reason."""
    started = time.monotonic()
    sent = request_presentation(env, athlete, athlete["connection_id"])
    settled = env.settled(athlete, sent["thread_id"], timeout=60)
    TIMINGS.setdefault("unanswered request -> failed", []).append(time.monotonic() - started)
    assert settled["state"] == "failed" and settled["attempts"] == 2, settled
    assert "no answer within 8 s" in settled["failure_reason"], settled


def test_notifications_reach_didcomm_members_as_basic_messages(env, athlete):
    import asyncio

    from aiokafka import AIOKafkaProducer
    env.call("PUT", "/users/me/preferences", athlete, 200, json={"notification_channels": ["websocket", "didcomm"]})
    address = athlete["wallet"].address.lower()
    block_hash = "0x" + uuid.uuid4().hex * 2
    event_id = ev.event_id(31337, block_hash, 0, ev.TOKEN_MINTED)
    body = ev.envelope(id=event_id, ce_type=ev.TOKEN_MINTED.ce_type, chain_id=31337, subject=address,
                       time=datetime.now(UTC),
                       data={"account": address, "amount": str(5 * 10**18), "blockNumber": 7, "blockHash": block_hash,
                             "txHash": "0x" + uuid.uuid4().hex * 2, "logIndex": 0})

    async def publish():
        producer = AIOKafkaProducer(bootstrap_servers=env.settings.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(env.settings.kafka_topic_prefix + ev.TOKEN_MINTED.topic, body,
                                         key=address.encode())
        finally:
            await producer.stop()

    with timed("notification -> DIDComm basic message sent"):
        asyncio.run(publish())
        row = wait_until(lambda: db(env.settings, "SELECT d.status, d.address, d.last_error FROM deliveries d "
                                                  "JOIN notifications n ON n.id = d.notification_id "
                                                  "WHERE n.user_id = $1::uuid AND d.channel = 'didcomm' "
                                                  "AND d.status IN ('sent', 'failed')", athlete["user_id"]), 30,
                         what="didcomm delivery")
    assert row[0]["status"] == "sent", row
    assert row[0]["address"] == athlete["connection_id"]


def test_an_eip712_credential_from_another_issuer_is_verified_by_the_controller(env, athlete):
    """ACA-Py cannot check Ethereum signatures: the controller does (didkit + our did:pkh checks)."""
    from eth_account import Account

    from tests.identity.eip712_issuer import issue_eip712_credential

    key = Account.create().key.hex()
    credential = asyncio.run(issue_eip712_credential({
        "@context": ["https://www.w3.org/2018/credentials/v1", "https://w3id.org/security/suites/eip712sig-2021/v1"],
        "type": ["VerifiableCredential"], "issuanceDate": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": athlete["holder_did"]}}, key, chain_id=env.settings.chain_id))
    verdict = env.call("POST", "/identity/credentials/verify", athlete, json={"credential": credential})
    assert verdict["ok"] is True and verdict["proof_type"] == "EthereumEip712Signature2021", verdict
    assert verdict["issuer"].startswith(f"did:pkh:eip155:{env.settings.chain_id}:")

    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["id"] = "did:key:z6MkeXampleXampleXampleXampleXampleXampleXample1"
    refused = env.call("POST", "/identity/credentials/verify", athlete, json={"credential": tampered})
    assert refused["ok"] is False and refused["errors"]
    other_chain = env.call("POST", "/identity/credentials/verify", athlete,
                           json={"credential": credential, "expected_chain_id": 1})
    assert other_chain["ok"] is False and any("chain" in e for e in other_chain["errors"])


def test_a_wallet_reusing_its_connection_settles_the_invitation(env):
    """Wallets answer an invitation from an issuer they know by reusing their connection (OOB handshake
    reuse, ACA-Py's default): the member's invitation settles on that connection instead of hanging;
    another member cannot take over a connection that way. A wallet of its own, so the connection it
    reuses is known."""
    wallet = Agent("reusing-wallet", env.log_dir / "reusing-wallet", flags=HOLDER_FLAGS).start()
    try:
        member, other = env.member(), env.member()
        first = env.call("POST", "/identity/connections/invitations", member, 201)
        wallet.post("/out-of-band/receive-invitation", first["invitation"], use_existing_connection="false")
        connection_id = env.settled(member, first["thread_id"])["result"]["connection_id"]

        again = env.call("POST", "/identity/connections/invitations", member, 201)
        received = wallet.post("/out-of-band/receive-invitation", again["invitation"], use_existing_connection="true")
        assert received["state"] == "reuse-accepted", received
        done = env.settled(member, again["thread_id"], timeout=20)
        assert done["state"] == "done" and done["result"]["connection_id"] == connection_id, done

        taken = env.call("POST", "/identity/connections/invitations", other, 201)
        wallet.post("/out-of-band/receive-invitation", taken["invitation"], use_existing_connection="true")
        refused = env.settled(other, taken["thread_id"], timeout=20)
        assert refused["state"] == "failed" and "another member" in refused["failure_reason"], refused
        assert env.call("GET", "/identity/connections", other)["data"] == []
    finally:
        wallet.stop()
