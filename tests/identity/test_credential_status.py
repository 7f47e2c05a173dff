"""Issue 21 part 5: credentials others can check. On real processes (our ACA-Py agent, a holder agent, the
API, the worker): every credential we issue carries a BitstringStatusListEntry; a third party (a separate
process with didkit and nothing of ours: third_party_verifier.py) sees it valid, then revoked once an admin
revokes it or its member unlinks the wallet it binds; the list's own proof verifies and a tampered list is
caught; invitations use a fresh DID per member when configured."""

import asyncio
import base64
import copy
import gzip
import http.server
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from agent.controller.acapy import AcaPy
from agent.controller.interop import verify_with_didkit
from agent.controller.service import Identity
from agent.controller.status import LIST_SIZE, decode_list
from backend.app.core.db import dsn
from tests.identity.test_identity import achieve, bind, connect, earn, holder_did
from tests.support.api import db
from tests.support.signin import new_wallet, sign, siwe_message

VERIFIER = Path(__file__).with_name("third_party_verifier.py")
TIMINGS: dict[str, list[float]] = {}


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    print("\ncredential status timings (ms): " + ", ".join(
        f"{name} {min(v):.0f}..{max(v):.0f} (n={len(v)})" for name, v in TIMINGS.items()))


def third_party(credential: dict, **env) -> dict:
    """The verdict of the third-party verifier, run as its own process."""
    done = subprocess.run([sys.executable, str(VERIFIER)], input=json.dumps(credential), capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    for name, ms in verdict["timings_ms"].items():
        TIMINGS.setdefault(f"third party: {name}", []).append(ms)
    return verdict


def issued(env, member, kind: str) -> dict:
    return next(c for c in env.call("GET", "/identity/credentials", member)["data"] if c["kind"] == kind)


@pytest.fixture(scope="module")
def admin(env):
    return env.member(role="admin")


@pytest.fixture(scope="module")
def athlete(env):
    member = env.member()
    connection_id = connect(env, member)
    did = holder_did(env)
    bind(env, member, connection_id, did)
    earn(env, member, 11)
    credential_id = achieve(env, member, connection_id)["credential_id"]
    return {**member, "connection_id": connection_id, "holder_did": did, "credential_id": credential_id}


def test_a_third_party_sees_a_credential_valid_then_revoked(env, athlete, admin):
    credential = issued(env, athlete, "FitnessAchievement")["document"]
    entry = credential["credentialStatus"]
    assert entry["type"] == "BitstringStatusListEntry" and entry["statusPurpose"] == "revocation"
    assert entry["statusListCredential"].startswith(env.base + "/identity/status/")
    assert entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}"
    binding = issued(env, athlete, "WalletBinding")["document"]["credentialStatus"]
    assert binding["statusListIndex"] != entry["statusListIndex"]  # one bit each

    before = third_party(credential)
    assert before == {**before, "proof": True, "status_list_proof": True, "revoked": False, "errors": []}, before
    assert env.call("POST", "/identity/credentials/verify", athlete, json={"credential": credential})["ok"] is True

    started = time.perf_counter()
    revoked = env.call("POST", f"/identity/credentials/{athlete['credential_id']}/revoke", admin)
    TIMINGS.setdefault("revoke incl. list re-signed", []).append((time.perf_counter() - started) * 1000)
    assert revoked["status"] == {"status_list_credential": entry["statusListCredential"],
                                 "status_list_index": int(entry["statusListIndex"]), "published": True}, revoked
    after = third_party(credential)
    assert after["proof"] is True and after["status_list_proof"] is True and after["revoked"] is True, after
    ours = env.call("POST", "/identity/credentials/verify", athlete, json={"credential": credential})
    assert ours["ok"] is False and any(e.startswith("revoked at ") for e in ours["errors"]), ours
    for index in ("\u00b2", "-1", "1e3", "9" * 12, 5):  # a status the API will not look up: a reason, no error
        odd = {**credential, "credentialStatus": {**entry, "statusListIndex": index}}
        assert env.call("POST", "/identity/credentials/verify", athlete, json={"credential": odd})["ok"] is False
    # The wallet binding next to it is untouched.
    still = third_party(issued(env, athlete, "WalletBinding")["document"])
    assert still["revoked"] is False, still


def test_the_status_list_is_public_signed_cached_and_big_enough(env, athlete):
    url = issued(env, athlete, "WalletBinding")["document"]["credentialStatus"]["statusListCredential"]
    response = httpx.get(url)  # no token: anyone may read it
    assert response.status_code == 200, response.text
    status_list = response.json()
    assert status_list["id"] == url and "BitstringStatusListCredential" in status_list["type"]
    assert status_list["credentialSubject"]["statusPurpose"] == "revocation"
    assert len(decode_list(status_list["credentialSubject"]["encodedList"])) * 8 == LIST_SIZE >= 131_072
    assert asyncio.run(verify_with_didkit(status_list)).ok  # its own proof, by our issuer DID
    assert status_list["issuer"] == issued(env, athlete, "WalletBinding")["document"]["issuer"]
    assert response.headers["cache-control"] == f"public, max-age={env.settings.identity_status_max_age_seconds}"
    etag = response.headers["etag"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(url, headers={"If-None-Match": '"0"'}).status_code == 200
    assert httpx.get(env.base + "/identity/status/999999").status_code == 404
    for bad in ("0", "-1", "x", "99999999999999"):
        assert httpx.get(env.base + f"/identity/status/{bad}").status_code == 422


def test_a_tampered_status_list_is_caught(env, athlete, admin):
    """A man in the middle serves the list with the revoked bit cleared: the third party's check of the
    list's proof fails, so it reports an error rather than "not revoked"."""
    credential = issued(env, athlete, "WalletBinding")["document"]
    env.call("POST", f"/identity/credentials/{credential['id']}/revoke", admin)
    index = int(credential["credentialStatus"]["statusListIndex"])
    genuine = httpx.get(credential["credentialStatus"]["statusListCredential"]).json()
    bits = bytearray(decode_list(genuine["credentialSubject"]["encodedList"]))
    assert bits[index // 8] & (0x80 >> (index % 8))
    bits[index // 8] &= ~(0x80 >> (index % 8)) & 0xFF
    forged = copy.deepcopy(genuine)
    forged["credentialSubject"]["encodedList"] = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits))).decode(
    ).rstrip("=")

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(forged).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        verdict = third_party(credential, http_proxy=f"http://127.0.0.1:{proxy.server_address[1]}", no_proxy="")
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert verdict["proof"] is True and verdict["status_list_proof"] is False, verdict
    assert verdict["revoked"] is None and any(e.startswith("status list:") for e in verdict["errors"]), verdict
    assert third_party(credential)["revoked"] is True  # without the man in the middle


def test_unlinking_a_wallet_revokes_its_binding_credential(env):
    member = env.member()
    connection_id = connect(env, member)
    second = new_wallet()  # bound (and so linked) besides the wallet the member signs in with
    message = siwe_message(env.http, env.settings, second, statement="Bind my wallet to my DIDComm wallet")
    sent = env.call("POST", "/identity/bindings", member, 202, json={
        "connection_id": connection_id, "holder_did": holder_did(env), "message": message,
        "signature": sign(message, second)})
    assert env.settled(member, sent["thread_id"])["state"] == "done"
    credential = issued(env, member, "WalletBinding")
    assert third_party(credential["document"])["revoked"] is False

    started = time.perf_counter()
    env.call("DELETE", f"/users/me/wallets/{second.address}", member)
    TIMINGS.setdefault("unlink incl. list re-signed", []).append((time.perf_counter() - started) * 1000)
    after = issued(env, member, "WalletBinding")
    assert after["revoked_at"] is not None
    assert db(env.settings, "SELECT revoked_by FROM issued_credentials WHERE credential_id = $1",
              credential["credential_id"])[0][0] == "wallet unlinked"
    assert third_party(credential["document"])["revoked"] is True
    inbox = env.call("GET", "/notifications", member)["data"]
    assert [n["data"]["credentialId"] for n in inbox if n["kind"] == "credential.revoked"] == [
        credential["credential_id"]], inbox
    # The wallet the member signs in with binds nothing: unlinking it is refused as before (the last one).
    env.call("DELETE", f"/users/me/wallets/{member['wallet'].address}", member, 409)


def test_a_revoked_list_left_unsigned_is_signed_by_the_reconciler(env, admin):
    """The agent is down while an admin revokes: the revocation stands (our table), the list is not
    re-signed then (`published` false), and the worker's reconciler signs it once the agent is back."""
    member = env.member()
    connection_id = connect(env, member)
    bind(env, member, connection_id, holder_did(env))
    credential = issued(env, member, "WalletBinding")
    env.ours.kill()
    try:
        revoked = env.call("POST", f"/identity/credentials/{credential['credential_id']}/revoke", admin)
        assert revoked["revoked_at"] and revoked["status"]["published"] is False, revoked
    finally:
        env.ours.start()
    started = time.monotonic()
    deadline = started + 30
    while third_party(credential["document"])["revoked"] is not True:
        assert time.monotonic() < deadline, "the reconciler did not re-sign the list"
        time.sleep(0.5)
    TIMINGS.setdefault("agent back -> list re-signed (reconciler)", []).append((time.monotonic() - started) * 1000)


@pytest.mark.parametrize("mode", ["shared", "fresh"])
def test_invitations_use_one_shared_did_or_a_fresh_one_per_invitation(env, mode):
    """IDENTITY_INVITATION_DID: `shared` invitations all name the agent's one invitation DID; `fresh` ones
    each name a new did:peer:4, and a wallet still connects over one (the API under test applies it)."""
    settings = env.settings.model_copy(update={"identity_invitation_did": mode})
    members = [env.member(), env.member()]

    async def invite():
        pool = await asyncpg.create_pool(dsn(settings, settings.backend_database), min_size=1, max_size=2)
        acapy = AcaPy(settings)
        try:
            identity = Identity(pool, acapy, settings)
            return [await identity.create_invitation(str(await pool.fetchval(
                "SELECT tenant_id FROM users WHERE id = $1::uuid", m["user_id"])), m["user_id"]) for m in members]
        finally:
            await acapy.close()
            await pool.close()

    invitations = asyncio.run(invite())
    dids = [x["invitation"]["services"] for x in invitations]
    assert all(len(d) == 1 and d[0].startswith("did:peer:4") for d in dids), dids
    assert (dids[0] == dids[1]) is (mode == "shared"), dids
    env.holder.post("/out-of-band/receive-invitation", invitations[0]["invitation"], use_existing_connection="false")
    done = env.settled(members[0], invitations[0]["thread_id"])
    assert done["state"] == "done", done
