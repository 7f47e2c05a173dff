"""Issue 21 part 5: credentials others can check. On real processes (our ACA-Py agent, a holder agent, the
API, the worker): every credential we issue carries a BitstringStatusListEntry; a third party (a separate
process with didkit and nothing of ours: third_party_verifier.py) sees it valid, then revoked once an admin
revokes it or its member unlinks the wallet it binds; the list's own proof verifies and a tampered list is
caught; invitations use a fresh DID per member when configured."""

import asyncio
import base64
import contextlib
import copy
import gzip
import http.server
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import httpx
import pytest

from agent.controller.acapy import AcaPy
from agent.controller.interop import proof_created_timestamp, verify_with_didkit
from agent.controller.service import Identity
from agent.controller.status import LIST_SIZE
from backend.app.core.db import dsn
from tests.identity.test_identity import achieve, bind, connect, earn, holder_did
from tests.identity.third_party_verifier import decode_list
from tests.support.api import db
from tests.support.processes import start_api
from tests.support.signin import new_wallet, sign, siwe_message
from tests.support.waiting import wait_until

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


class AdminProxy:
    """A real HTTP hop in front of our agent's admin API: forwards every call; a test may act when one call
    passes (`before`, run before forwarding it) or answer a call itself (`answer`). Races with the agent's
    work made deterministic, with nothing of ours replaced."""

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.before: dict[str, object] = {}  # path -> callable
        self.answer: dict[str, tuple[int, bytes]] = {}  # path -> (status, body)
        self.answered: list[str] = []  # the paths it answered itself, in order
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?")[0]
                if action := proxy.before.pop(path, None):
                    action()
                status, content = proxy.answer.get(path) or (None, None)
                if status is not None:
                    proxy.answered.append(path)
                else:
                    forwarded = httpx.request(self.command, proxy.target + self.path, content=body, timeout=30,
                                              headers={k: v for k, v in self.headers.items()
                                                       if k.lower() in ("x-api-key", "content-type")})
                    status, content = forwarded.status_code, forwarded.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_DELETE = relay

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def proxied(env):
    """A second API on the same database whose calls to our agent pass through an AdminProxy."""
    proxy = AdminProxy(env.settings.acapy_admin_url)
    api = None
    try:
        log_dir = Path(env.log_dir) / "proxied"
        log_dir.mkdir(exist_ok=True)
        api, base = start_api(env.settings.model_copy(update={"acapy_admin_url": proxy.url}), log_dir,
                              avoid=env.ours.ports | env.holder.ports)
        yield SimpleNamespace(proxy=proxy, base=base)
    finally:
        if api is not None:
            api.stop()
        proxy.close()


@contextlib.contextmanager
def man_in_the_middle(document: dict):
    """An HTTP proxy that answers every GET with `document`; yields the environment that routes the
    third party's fetches through it."""

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(document).encode()
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
        yield {"http_proxy": f"http://127.0.0.1:{proxy.server_address[1]}", "no_proxy": ""}
    finally:
        proxy.shutdown()
        proxy.server_close()


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
    url = entry["statusListCredential"]
    for index in ("\u00b2", "-1", "1e3", "007", "9" * 12, "131072", 5):  # not an index of the list: said so
        odd = {**credential, "credentialStatus": {**entry, "statusListIndex": index}}
        verdict = env.call("POST", "/identity/credentials/verify", athlete, json={"credential": odd})
        assert verdict["warnings"] == [f"credentialStatus not checked: statusListIndex {index!r} is not an index of "
                                       f"the status list {url} (a base-10 string from 0 to 131071)"], verdict
    binding_index = binding["statusListIndex"]  # an index of the list, but another credential's
    odd = {**credential, "credentialStatus": {**entry, "statusListIndex": binding_index}}
    verdict = env.call("POST", "/identity/credentials/verify", athlete, json={"credential": odd})
    assert verdict["warnings"] == [f"credentialStatus not checked: index {binding_index} of the status list {url} "
                                   "is not this credential's"] and verdict["ok"] is False, verdict
    for elsewhere in (url + "0", "https://status.example/1"):
        odd = {**credential, "credentialStatus": {**entry, "statusListCredential": elsewhere}}
        verdict = env.call("POST", "/identity/credentials/verify", athlete, json={"credential": odd})
        assert verdict["warnings"] == ["credentialStatus not checked: it names no status list of this platform"]
    # Another issuer's credential naming our list and this revoked bit: our list says nothing about it (the
    # spec: a list counts only for its own issuer's credentials), whatever it names.
    other = {k: v for k, v in credential.items() if k != "proof"} | {"issuer": holder_did(env)}
    signed = env.holder.post("/vc/credentials/issue", {"credential": other, "options": {
        "proofType": "Ed25519Signature2020", "created": proof_created_timestamp()}})["verifiableCredential"]
    theirs = env.call("POST", "/identity/credentials/verify", athlete, json={"credential": signed})
    assert theirs["ok"] is True and theirs["warnings"] == [
        "credentialStatus not checked: the credential is not issued by this platform (a status list counts only "
        "for its issuer's credentials; the API fetches no URL a caller names)"], theirs
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


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_status_list_expires_and_is_re_signed_well_before(env, athlete):
    """A signed list is valid for IDENTITY_STATUS_VALID_SECONDS; the reconciler re-signs a list with less
    than half of that left, and an old signed copy (a cache, a mirror) past its expirationDate leaves the
    credential's status unknown to a third party."""
    credential = issued(env, athlete, "WalletBinding")["document"]
    url = credential["credentialStatus"]["statusListCredential"]
    first = httpx.get(url)
    listed = first.json()
    valid = timedelta(seconds=env.settings.identity_status_valid_seconds)
    assert _date(listed["expirationDate"]) - _date(listed["issuanceDate"]) == valid, listed
    # Time passes: the stored list is a minute from its expiry (its stored copy says so).
    soon = _text(datetime.now(UTC) + timedelta(minutes=1))
    db(env.settings, "UPDATE status_lists SET credential = jsonb_set(credential, '{expirationDate}', "
       "to_jsonb($2::text)) WHERE url = $1", url, soon)
    renewed = wait_until(lambda: (lambda r: r if r.json()["expirationDate"] != soon else None)(httpx.get(url)), 15,
                         interval=0.2, what="the reconciler re-signing the list")
    assert _date(renewed.json()["expirationDate"]) > datetime.now(UTC) + valid - timedelta(minutes=1)
    assert asyncio.run(verify_with_didkit(renewed.json())).ok and renewed.headers["etag"] != first.headers["etag"]
    assert third_party(credential)["revoked"] is False
    # A copy our issuer really signed, but expired: no verdict either way.
    old = {k: v for k, v in renewed.json().items() if k != "proof"} | {
        "issuanceDate": _text(datetime.now(UTC) - valid - timedelta(days=1)),
        "expirationDate": _text(datetime.now(UTC) - timedelta(days=1))}
    stale = env.ours.post("/vc/credentials/issue", {"credential": old, "options": {
        "proofType": "Ed25519Signature2020", "created": proof_created_timestamp()}})["verifiableCredential"]
    with man_in_the_middle(stale) as proxy_env:
        verdict = third_party(credential, **proxy_env)
    assert verdict["proof"] is True and verdict["revoked"] is None, verdict
    assert f"status list expired at {old['expirationDate']}: the credential's status is unknown" in verdict["errors"], (
        verdict)


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
    with man_in_the_middle(forged) as proxy_env:
        verdict = third_party(credential, **proxy_env)
    assert verdict["proof"] is True and verdict["status_list_proof"] is False, verdict
    assert verdict["revoked"] is None and any(e.startswith("status list:") for e in verdict["errors"]), verdict
    assert third_party(credential)["revoked"] is True  # without the man in the middle


def test_unlinking_a_wallet_revokes_its_binding_credential(env):
    member = env.member()
    connection_id = connect(env, member)
    second = new_wallet()  # bound (and so linked) besides the wallet the member signs in with
    bind(env, member, connection_id, holder_did(env), wallet=second)
    credential = issued(env, member, "WalletBinding")
    assert third_party(credential["document"])["revoked"] is False

    started = time.perf_counter()
    env.call("DELETE", f"/users/me/wallets/{second.address}", member)
    TIMINGS.setdefault("unlink (list re-signed after the answer)", []).append((time.perf_counter() - started) * 1000)
    after = issued(env, member, "WalletBinding")
    assert after["revoked_at"] is not None
    assert db(env.settings, "SELECT revoked_by FROM issued_credentials WHERE credential_id = $1",
              credential["credential_id"])[0][0] == "wallet unlinked"
    wait_until(lambda: third_party(credential["document"])["revoked"], 10, interval=0.2, what="the list re-signed")
    inbox = env.call("GET", "/notifications", member)["data"]
    assert [n["data"]["credentialId"] for n in inbox if n["kind"] == "credential.revoked"] == [
        credential["credential_id"]], inbox
    # The wallet the member signs in with binds nothing: unlinking it is refused as before (the last one).
    env.call("DELETE", f"/users/me/wallets/{member['wallet'].address}", member, 409)


def test_a_wallet_unlinked_while_its_binding_is_issued_gets_a_revoked_binding(env, proxied):
    """The member unlinks the wallet while the agent is offering its binding (the proxy runs the unlink
    when the offer passes): the unlinking found nothing to revoke, so the issue records the credential
    revoked, fails the exchange with the reason, binds nothing and publishes the list."""
    member = env.member()
    connection_id = connect(env, member)
    second = new_wallet()
    message = siwe_message(env.http, env.settings, second, statement="Bind my wallet to my DIDComm wallet")
    unlinked = []
    proxied.proxy.before["/issue-credential-2.0/send"] = lambda: unlinked.append(httpx.delete(
        f"{env.base}/users/me/wallets/{second.address}", headers=member["headers"], timeout=30).status_code)
    response = httpx.post(proxied.base + "/identity/bindings", headers=member["headers"], timeout=60, json={
        "connection_id": connection_id, "holder_did": holder_did(env), "message": message,
        "signature": sign(message, second)})
    assert unlinked == [200] and response.status_code == 202, (unlinked, response.text)
    sent = response.json()
    assert sent["state"] == "failed", sent
    assert f"the wallet {second.address.lower()} was unlinked while this binding was being issued" in sent[
        "failure_reason"], sent
    credential = wait_until(lambda: (lambda c: c if c["signed"] else None)(issued(env, member, "WalletBinding")),
                            30, what="the binding signed by the agent")
    assert credential["revoked_at"] is not None
    assert db(env.settings, "SELECT revoked_by FROM issued_credentials WHERE credential_id = $1",
              credential["credential_id"])[0][0] == "wallet unlinked"
    verdict = third_party(credential["document"])
    assert verdict["proof"] is True and verdict["revoked"] is True, verdict
    assert env.exchange(member, sent["thread_id"])["state"] == "failed"  # the holder's acceptance changes nothing
    assert db(env.settings, "SELECT count(*) FROM wallet_bindings WHERE credential_id = $1",
              credential["credential_id"])[0][0] == 0
    inbox = env.call("GET", "/notifications", member)["data"]
    assert [n["data"]["credentialId"] for n in inbox if n["kind"] == "credential.revoked"] == [
        credential["credential_id"]], inbox


def test_an_unlink_that_committed_answers_200_whatever_signing_the_list_does(env, proxied):
    """The agent answers the list's signing slowly, and with garbage (no agent error: a broken answer): the
    wallet is unlinked and its binding revoked, so the member gets 200 without waiting on the agent, and the
    reconciler signs the list."""
    member = env.member()
    connection_id = connect(env, member)
    second = new_wallet()
    bind(env, member, connection_id, holder_did(env), wallet=second)
    credential = issued(env, member, "WalletBinding")
    proxied.proxy.before["/vc/credentials/issue"] = lambda: time.sleep(3)
    proxied.proxy.answer["/vc/credentials/issue"] = (200, b"<html>not the agent</html>")
    try:
        started = time.perf_counter()
        response = httpx.delete(f"{proxied.base}/users/me/wallets/{second.address}", headers=member["headers"],
                                timeout=30)
        assert response.status_code == 200, response.text
        assert time.perf_counter() - started < 2, "the unlink waited for the list's signing"
        assert second.address.lower() not in [w.lower() for w in response.json()["wallets"]]
        assert issued(env, member, "WalletBinding")["revoked_at"] is not None
        wait_until(lambda: "/vc/credentials/issue" in proxied.proxy.answered, 10, what="the signing answered")
    finally:
        proxied.proxy.answer.clear()
    wait_until(lambda: third_party(credential["document"])["revoked"], 30, interval=0.5,
               what="the reconciler re-signing the list")


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
        again = env.call("POST", f"/identity/credentials/{credential['credential_id']}/revoke", admin)
        assert again["status"]["published"] is False, again  # nothing to sign this time, still not published
    finally:
        env.ours.start()
    started = time.monotonic()
    deadline = started + 30
    while third_party(credential["document"])["revoked"] is not True:
        assert time.monotonic() < deadline, "the reconciler did not re-sign the list"
        time.sleep(0.5)
    TIMINGS.setdefault("agent back -> list re-signed (reconciler)", []).append((time.monotonic() - started) * 1000)
    assert env.call("POST", f"/identity/credentials/{credential['credential_id']}/revoke", admin)["status"][
        "published"] is True


def test_an_offer_whose_credential_was_revoked_is_not_sent_again(env, admin):
    """The member's wallet is offline, the offer goes unanswered, and an admin revokes the credential
    meanwhile: past the deadline the reconciler fails the exchange with that reason instead of offering
    the revoked credential again."""
    member = env.member()
    connection_id = connect(env, member)
    bind(env, member, connection_id, holder_did(env))
    earn(env, member, 11)
    env.holder.kill()
    try:
        sent = env.call("POST", "/identity/credentials/achievements", member, 202,
                        json={"connection_id": connection_id, "achievement": "distance-10k"})
        assert sent["state"] == "pending", sent
        env.call("POST", f"/identity/credentials/{sent['credential_id']}/revoke", admin)
        done = env.settled(member, sent["thread_id"], timeout=env.settings.identity_exchange_timeout_seconds + 15)
    finally:
        env.holder.start()
    revoked_by = db(env.settings, "SELECT revoked_by FROM issued_credentials WHERE credential_id = $1",
                    sent["credential_id"])[0][0]
    assert done["state"] == "failed" and done["attempts"] == 1, done
    assert done["failure_reason"].endswith(f"; not re-sent: the credential was revoked meanwhile ({revoked_by})"), done


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
