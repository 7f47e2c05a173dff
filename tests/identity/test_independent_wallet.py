"""Issue 23: the platform with a wallet that is not ours. The holder is ACA-Py started exactly as
agent/README.md's "Running an agent by hand" says (its shell block, run as written by bash from a clean
environment that sourced scripts/toolchain/env.sh), answering every step itself through its admin API: no
auto-respond flag, none of tests/support/agents.py.

- env.sh exports nothing ACA-Py reads as an option: the hand-run agent sends its webhooks nowhere (our API
  included) and connects;
- every refusal reaches the wallet as a problem-report with a reason it keeps (`error_msg`) and the member
  sees it in GET /identity/exchanges: an already-used invitation received again, an expired one; asking to
  reuse the connection for an already-used invitation settles on that connection;
- a re-sent offer or proof request withdraws the first (the wallet's copy ends abandoned with the reason),
  so after answering the new one the wallet has no open request left (its presentation acked);
- a presentation our checks refuse gets a problem-report with the reasons and no ack."""

import http.server
import json
import os
import re
import subprocess
import threading
import time
import uuid

import httpx
import pytest

from tests.support.api import a_run, db
from tests.support.paths import ROOT
from tests.support.processes import free_port, spawn, stop_group
from tests.support.signin import sign, siwe_message
from tests.support.waiting import wait_until

OPEN_OFFER = {"offer-received", "request-sent", "credential-received"}  # the holder still owes or awaits a step
OPEN_REQUEST = {"request-received", "presentation-sent"}


def readme_recipe() -> str:
    """The shell block of agent/README.md's "Running an agent by hand", as a reader copies it."""
    text = (ROOT / "agent" / "README.md").read_text()
    section = text[text.index("## Running an agent by hand"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


class Probe(http.server.ThreadingHTTPServer):
    """Records every POST it gets: where env.sh would have pointed an agent's webhooks (BACKEND_PORT), or the
    webhook URL a wallet's user gives their agent."""

    def __init__(self):
        self.requests: list[tuple[str, bytes]] = []  # (path, body), appended whole
        probe = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                probe.requests.append((self.path, self.rfile.read(int(self.headers.get("Content-Length") or 0))))
                self.send_response(401)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def seen(self) -> list[str]:
        return [path for path, _ in list(self.requests)]


class Wallet:
    """The hand-run holder, driven through its admin API as its user would."""

    def __init__(self, home, admin_port: int, process: subprocess.Popen):
        self.home, self.process = home, process
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{admin_port}", timeout=20)

    @property
    def key(self) -> str:
        return (self.home / "admin-key").read_text().strip()

    def call(self, method: str, path: str, body: dict | None = None, **params) -> dict:
        response = self.http.request(method, path, json=body, params=params, headers={"X-API-Key": self.key})
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json()

    def connections(self) -> list[dict]:
        return self.call("GET", "/connections")["results"]

    def records(self, protocol: str, **params) -> list[dict]:
        """issue-credential-2.0 or present-proof-2.0 records (the exchange record itself, either shape)."""
        return [r.get("cred_ex_record", r) for r in self.call("GET", f"/{protocol}/records", **params)["results"]]

    def log(self) -> str:
        return (self.home / "holder.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def probe():
    server = Probe()
    yield server
    server.shutdown()
    server.server_close()


def start_wallet(home, probe: Probe, extra: str = "") -> Wallet:
    """agent/README.md's recipe run by bash from a clean environment that sourced env.sh (`extra`: options
    added after the recipe's last line, as its text invites)."""
    admin_port = free_port()
    while (port := free_port()) == admin_port:
        pass
    # A clean environment: what a login shell has, plus where env.sh's defaults would send webhooks (the probe).
    clean = {k: os.environ[k] for k in ("HOME", "PATH", "LANG", "FITMINT_CACHE", "XDG_CACHE_HOME") if k in os.environ}
    clean |= {"BACKEND_PORT": str(probe.server_address[1]), "HOLDER_HOME": str(home), "HOLDER_PORT": str(port),
              "HOLDER_ADMIN_PORT": str(admin_port)}
    with open(home / "holder.log", "a") as log:
        process = spawn(["bash", "-c", "source scripts/toolchain/env.sh && " + readme_recipe().rstrip() + extra],
                        cwd=ROOT, env=clean, stdout=log, stderr=subprocess.STDOUT)
    holder = Wallet(home, admin_port, process)

    def ready():
        assert process.poll() is None, f"the recipe exited {process.returncode}:\n{holder.log()[-3000:]}"
        try:
            return holder.http.get("/status/ready", headers={"X-API-Key": holder.key}, timeout=1).json().get("ready")
        except (httpx.HTTPError, ValueError, FileNotFoundError):
            return False

    try:
        wait_until(ready, 90, interval=0.2, what="the hand-run holder ready")
    except BaseException:
        stop_wallet(holder)
        raise
    return holder


def stop_wallet(holder: Wallet) -> None:
    holder.http.close()
    stop_group(holder.process, timeout=15)


@pytest.fixture(scope="module")
def wallet(tmp_path_factory, probe):
    holder = start_wallet(tmp_path_factory.mktemp("hand-run-holder"), probe)
    yield holder
    stop_wallet(holder)


def connect(env, wallet, member) -> tuple[dict, str]:
    """The member's invitation, received by the wallet (a new connection); (invitation exchange, connection id)."""
    created = env.call("POST", "/identity/connections/invitations", member, 201)
    wallet.call("POST", "/out-of-band/receive-invitation", created["invitation"], use_existing_connection="false",
                auto_accept="true")
    done = env.settled(member, created["thread_id"])
    assert done["state"] == "done", done
    return created, done["result"]["connection_id"]


def wallet_connection_for(wallet, invitation_msg_id: str, exclude: set[str]) -> dict:
    return wait_until(lambda: next((c for c in wallet.connections() if c.get("invitation_msg_id") == invitation_msg_id
                                    and c["connection_id"] not in exclude), None), 10, what="the wallet's connection")


# --- item 3: the hand-run agent ------------------------------------------------------------------------------

def aca_py_options_read_from_the_environment() -> set[str]:
    """The ACAPY_* names ACA-Py 1.7 itself reads (its `start --help` lists each option's [env var: ...])."""
    text = subprocess.run([f"{os.environ['ACAPY_VENV']}/bin/aca-py", "start", "--help"], capture_output=True,
                          text=True, timeout=120, env={"PATH": os.environ["PATH"], "COLUMNS": "500"}).stdout
    names = set(re.findall(r"env var:\s*(ACAPY_[A-Z0-9_]+)", text))
    assert {"ACAPY_WEBHOOK_URL", "ACAPY_ADMIN_API_KEY", "ACAPY_WALLET_KEY"} <= names, text[-2000:]
    return names


def test_env_sh_exports_no_option_of_aca_py():
    exported = subprocess.run(["bash", "-c", "source scripts/toolchain/env.sh && env"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env={"HOME": os.environ["HOME"], "PATH": os.environ["PATH"]},
                              check=True).stdout
    names = {line.split("=", 1)[0] for line in exported.splitlines() if "=" in line}
    assert not names & aca_py_options_read_from_the_environment(), names & aca_py_options_read_from_the_environment()
    assert "FITMINT_AGENT_WEBHOOK_URL" in names  # what stack.sh hands our agent alone, as its ACAPY_WEBHOOK_URL


def test_the_readme_recipe_runs_from_env_sh_sends_no_webhook_and_connects(env, wallet, probe):
    config = wallet.call("GET", "/status/config")["config"]
    assert not config.get("admin.webhook_urls"), config.get("admin.webhook_urls")
    member = env.member()
    invitation, connection_id = connect(env, wallet, member)
    assert [c["connection_id"] for c in env.call("GET", "/identity/connections", member)["data"]] == [connection_id]
    time.sleep(1)  # the wallet's events of the connection have had time to be posted, had it a webhook URL
    assert probe.seen == [], probe.seen


# --- item 1: refusals reach the wallet with a reason, and the member -------------------------------------

@pytest.fixture(scope="module")
def connected(env, wallet):
    member = env.member()
    invitation, connection_id = connect(env, wallet, member)
    mine = wallet_connection_for(wallet, invitation["thread_id"], set())
    return {**member, "invitation": invitation, "connection_id": connection_id, "wallet_connection": mine}


def test_an_already_used_invitation_received_again_is_refused_with_a_reason(env, wallet, connected):
    invitation = connected["invitation"]
    before = {c["connection_id"] for c in wallet.connections()}
    started = time.monotonic()
    wallet.call("POST", "/out-of-band/receive-invitation", invitation["invitation"], use_existing_connection="false",
                auto_accept="true")
    attempt = wallet_connection_for(wallet, invitation["thread_id"], before)
    ended = wait_until(lambda: (lambda c: c if c["rfc23_state"] == "abandoned" else None)(
        wallet.call("GET", f"/connections/{attempt['connection_id']}")), 20, what="the wallet told")
    print(f"\nused invitation: the wallet's connection abandoned with the reason after "
          f"{time.monotonic() - started:.2f} s: {ended['error_msg']}")
    assert "already used" in ended["error_msg"] and "new invitation" in ended["error_msg"], ended
    # The member sees the attempt: a failed connection exchange on the wallet's request thread, with the reason.
    refused = wait_until(lambda: next((x for x in env.call("GET", "/identity/exchanges", connected)["data"]
                                       if x["kind"] == "connection" and x["state"] == "failed"), None), 10,
                         what="the refusal listed")
    assert refused["thread_id"] == ended["request_id"], (refused, ended)
    assert "already used" in refused["failure_reason"] and invitation["thread_id"] in refused["failure_reason"]
    # The invitation's own exchange and connection are untouched.
    assert env.exchange(connected, invitation["thread_id"])["result"]["connection_id"] == connected["connection_id"]
    listed = env.call("GET", "/identity/connections", connected)["data"]
    assert [(c["connection_id"], c["state"]) for c in listed] == [(connected["connection_id"], "active")], listed


def test_a_request_whose_webhook_was_lost_is_refused_by_the_reconciler(env, wallet, connected):
    """The API is down when the wallet's request on the used invitation arrives: our agent's webhook is lost,
    and the worker's reconciler finds the request waiting and refuses it with the reason all the same."""
    invitation = connected["invitation"]
    before = {c["connection_id"] for c in wallet.connections()}
    with env.api_down():
        wallet.call("POST", "/out-of-band/receive-invitation", invitation["invitation"],
                    use_existing_connection="false", auto_accept="true")
        attempt = wallet_connection_for(wallet, invitation["thread_id"], before)
        ended = wait_until(lambda: (lambda c: c if c["rfc23_state"] == "abandoned" else None)(
            wallet.call("GET", f"/connections/{attempt['connection_id']}")), 20, what="the wallet told")
        assert "already used" in ended["error_msg"], ended
    refusals = [x for x in env.call("GET", "/identity/exchanges", connected)["data"]
                if x["kind"] == "connection" and x["state"] == "failed"]
    assert ended["request_id"] in {x["thread_id"] for x in refusals}, refusals


def test_a_reuse_settles_on_the_members_connection_or_is_refused_with_a_problem_report(env, tmp_path_factory, probe):
    """A wallet asked to reuse its connection for an invitation already used (the out-of-band handshake
    reuse) settles on that connection. ACA-Py accepts any reuse on its own; one with a connection of another
    member the controller refuses, and tells the wallet on the reuse's thread. A wallet of its own (one
    connection with us, so the one it reuses is known) with a webhook URL of its own (the recipe's
    `--webhook-url` option), where its agent reports the problem-reports it receives."""
    own = Probe()
    holder = start_wallet(tmp_path_factory.mktemp("reusing-holder"), probe,
                          f" --webhook-url http://127.0.0.1:{own.server_address[1]}/holder")
    try:
        first, other = env.member(), env.member()
        invitation, connection_id = connect(env, holder, first)
        (mine,) = holder.connections()
        received = holder.call("POST", "/out-of-band/receive-invitation", invitation["invitation"],
                               use_existing_connection="true", auto_accept="true")
        assert received["state"] == "reuse-accepted" and received["connection_id"] == mine["connection_id"], received
        assert [c["connection_id"] for c in holder.connections()] == [mine["connection_id"]]  # nothing new
        settled = env.exchange(first, invitation["thread_id"])
        assert settled["state"] == "done" and settled["result"]["connection_id"] == connection_id, settled

        taken = env.call("POST", "/identity/connections/invitations", other, 201)
        received = holder.call("POST", "/out-of-band/receive-invitation", taken["invitation"],
                               use_existing_connection="true", auto_accept="true")
        assert received["state"] == "reuse-accepted", received  # ACA-Py's own answer, before the controller's
        refused = env.settled(other, taken["thread_id"], timeout=20)
        assert refused["state"] == "failed" and "another member" in refused["failure_reason"], refused
        assert env.call("GET", "/identity/connections", other)["data"] == []
        report = wait_until(lambda: next((json.loads(b) for p, b in list(own.requests)
                                          if p.endswith("/topic/problem_report/")), None), 20,
                            what=f"the wallet's agent reports the problem-report (its webhooks: {own.seen})")
        assert report["~thread"]["pthid"] == taken["thread_id"], report
        assert "another member" in report["description"]["en"], report
        print(f"\nreuse of another member's connection: the wallet's agent reports {report['description']}")
    finally:
        stop_wallet(holder)
        own.shutdown()
        own.server_close()


def test_an_expired_invitation_is_refused_with_a_reason(env, wallet):
    member = env.member()
    created = env.call("POST", "/identity/connections/invitations", member, 201)
    db(env.settings, "UPDATE identity_exchanges SET deadline = now() - interval '1 second' WHERE thread_id = $1",
       created["thread_id"])
    wallet.call("POST", "/out-of-band/receive-invitation", created["invitation"], use_existing_connection="false",
                auto_accept="true")
    attempt = wallet_connection_for(wallet, created["thread_id"], set())
    ended = wait_until(lambda: (lambda c: c if c["rfc23_state"] == "abandoned" else None)(
        wallet.call("GET", f"/connections/{attempt['connection_id']}")), 20, what="the wallet told")
    assert "this invitation expired at" in ended["error_msg"] and "new invitation" in ended["error_msg"], ended
    assert env.call("GET", "/identity/connections", member)["data"] == []  # a refused request is no connection
    listed = env.call("GET", "/identity/exchanges", member)["data"]
    assert any(x["thread_id"] == ended["request_id"] and x["state"] == "failed" for x in listed), listed


# --- item 2: a re-sent offer or request withdraws the first -------------------------------------------------

def answered_late(env, wallet, protocol: str, connection_id: str, thread_id: str, answer) -> dict:
    """The wallet lets the first offer/request time out; the platform re-sends it and withdraws the first.
    The wallet answers the new one with `answer(record)`; returns the first record as the wallet ends with it."""
    first = wait_until(lambda: next(iter(wallet.records(protocol, thread_id=thread_id)), None), 10,
                       what=f"{protocol}: the first received")
    started = time.monotonic()
    withdrawn = wait_until(lambda: (lambda r: r if r["state"] == "abandoned" else None)(
        wallet.records(protocol, thread_id=thread_id)[0]), env.settings.identity_exchange_timeout_seconds + 20,
        what=f"{protocol}: the first withdrawn")
    second = wait_until(lambda: next((r for r in wallet.records(protocol, connection_id=connection_id)
                                      if r["state"] in ("offer-received", "request-received")), None), 10,
                        what=f"{protocol}: the new one received")
    print(f"\n{protocol}: re-sent and the first withdrawn {time.monotonic() - started:.1f} s after the wallet "
          f"received it: {withdrawn['error_msg']}")
    assert second["thread_id"] != first["thread_id"]
    answer(second)
    return withdrawn


def no_open_request(wallet, connection_id: str) -> None:
    offers = {r["state"] for r in wallet.records("issue-credential-2.0", connection_id=connection_id)}
    requests = {r["state"] for r in wallet.records("present-proof-2.0", connection_id=connection_id)}
    assert not offers & OPEN_OFFER and not requests & OPEN_REQUEST, (offers, requests)


def accept_offer(wallet):
    def answer(record):
        wallet.call("POST", f"/issue-credential-2.0/records/{record['cred_ex_id']}/send-request", {})
        wait_until(lambda: wallet.records("issue-credential-2.0", thread_id=record["thread_id"])[0]["state"]
                   == "credential-received", 20, what="credential received")
        wallet.call("POST", f"/issue-credential-2.0/records/{record['cred_ex_id']}/store", {})
    return answer


def test_a_resent_offer_and_request_withdraw_the_first_and_the_wallet_ends_with_none_open(env, wallet, connected):
    connection_id = connected["wallet_connection"]["connection_id"]
    holder_did = wallet.call("POST", "/wallet/did/create", {"method": "key", "options": {"key_type": "ed25519"}})
    message = siwe_message(env.http, env.settings, connected["wallet"], statement="Bind my wallet")
    sent = env.call("POST", "/identity/bindings", connected, 202, json={
        "connection_id": connected["connection_id"], "holder_did": holder_did["result"]["did"], "message": message,
        "signature": sign(message, connected["wallet"])})
    withdrawn = answered_late(env, wallet, "issue-credential-2.0", connection_id, sent["thread_id"],
                              accept_offer(wallet))
    assert "replaced this credential offer by a new one" in withdrawn["error_msg"], withdrawn
    bound = env.settled(connected, sent["thread_id"], timeout=30)
    assert bound["state"] == "done" and bound["attempts"] == 2, bound

    env.call("POST", "/fitness/workouts", connected, 201, json=a_run(hours_ago=3, km=10.0, minutes=60))
    env.call("POST", "/fitness/workouts", connected, 201, json=a_run(hours_ago=5, km=2.0, minutes=12))
    issued = env.call("POST", "/identity/credentials/achievements", connected, 202,
                      json={"connection_id": connected["connection_id"], "achievement": "distance-10k"})
    accept_offer(wallet)(wait_until(lambda: next(iter(wallet.records("issue-credential-2.0",
                                                                     thread_id=issued["thread_id"])), None), 10))
    assert env.settled(connected, issued["thread_id"])["state"] == "done"

    requested = env.call("POST", "/identity/presentations", connected, 202,
                         json={"connection_id": connected["connection_id"], "purpose": "verified-athlete"})

    achievement = next(c["credential_id"] for c in env.call("GET", "/identity/credentials", connected)["data"]
                       if c["kind"] == "FitnessAchievement")

    def present(record):
        matching = wallet.call("GET", f"/present-proof-2.0/records/{record['pres_ex_id']}/credentials")
        chosen = next(c["record_id"] for c in matching if c.get("id") == achievement)
        wallet.call("POST", f"/present-proof-2.0/records/{record['pres_ex_id']}/send-presentation",
                    {"dif": {"record_ids": {"credential": [chosen]}}})

    withdrawn = answered_late(env, wallet, "present-proof-2.0", connection_id, requested["thread_id"], present)
    assert "replaced this proof request by a new one" in withdrawn["error_msg"], withdrawn
    verified = env.settled(connected, requested["thread_id"], timeout=30)
    assert verified["state"] == "done" and verified["result"]["verified"] is True, verified
    assert verified["attempts"] == 2
    no_open_request(wallet, connection_id)


# --- item 1, continued: a presentation our checks refuse ---------------------------------------------------

def bound_holder_did(env, wallet, member) -> str:
    """The holder DID bound to the member's connection: the one bound already, or one bound now."""
    bound = [c for c in env.call("GET", "/identity/credentials", member)["data"] if c["kind"] == "WalletBinding"
             and c["signed"]]
    if bound:
        return bound[0]["subject_did"]
    did = wallet.call("POST", "/wallet/did/create", {"method": "key", "options": {"key_type": "ed25519"}})["result"]
    message = siwe_message(env.http, env.settings, member["wallet"], statement="Bind my wallet")
    sent = env.call("POST", "/identity/bindings", member, 202, json={
        "connection_id": member["connection_id"], "holder_did": did["did"], "message": message,
        "signature": sign(message, member["wallet"])})
    accept_offer(wallet)(wait_until(lambda: next(iter(wallet.records("issue-credential-2.0",
                                                                     thread_id=sent["thread_id"])), None), 10))
    assert env.settled(member, sent["thread_id"])["state"] == "done"
    return did["did"]


def test_a_presentation_our_checks_refuse_reaches_the_wallet_with_the_reasons_and_no_ack(env, tmp_path_factory, probe):
    """Our checks refuse a presentation whose signatures ACA-Py accepts (an issuer nobody trusts): the wallet is
    told on the thread with the reasons, and never acked. A wallet that keeps its exchange records
    (`--preserve-exchange-records`), so that an ack arriving after the report would show (the record `done`)."""
    wallet = start_wallet(tmp_path_factory.mktemp("keeping-holder"), probe, " --preserve-exchange-records")
    try:
        member = env.member()
        invitation, connection_id = connect(env, wallet, member)
        told = refused_presentation(env, wallet, {**member, "connection_id": connection_id})
        assert told["state"] == "abandoned", told
        time.sleep(2)  # an ack sent with the report is delivered in 0.1-0.3 s here
        [after] = wallet.records("present-proof-2.0", thread_id=told["thread_id"])
        assert after["state"] == "abandoned" and after.get("verified") is None, after
    finally:
        stop_wallet(wallet)


def refused_presentation(env, wallet, connected) -> dict:
    subject = bound_holder_did(env, wallet, connected)
    issuer = wallet.call("POST", "/wallet/did/create", {"method": "key", "options": {"key_type": "ed25519"}})
    context = json.loads((ROOT / "agent" / "contexts" / "fitmint-v1.json").read_text())["@context"]
    credential = {"@context": ["https://www.w3.org/2018/credentials/v1", context], "id": f"urn:uuid:{uuid.uuid4()}",
                  "type": ["VerifiableCredential", "FitnessAchievement"], "issuer": issuer["result"]["did"],
                  "issuanceDate": "2026-01-01T00:00:00Z",
                  "credentialSubject": {"id": subject, "achievement": "self-made", "achievementName": "Self-made",
                                        "totalDistanceKm": 500.0}}
    signed = wallet.call("POST", "/vc/credentials/issue", {"credential": credential,
                                                           "options": {"proofType": "Ed25519Signature2020"}})
    wallet.call("POST", "/vc/credentials/store", {"verifiableCredential": signed["verifiableCredential"]})
    requested = env.call("POST", "/identity/presentations", connected, 202,
                         json={"connection_id": connected["connection_id"], "purpose": "verified-athlete"})
    record = wait_until(lambda: next(iter(wallet.records("present-proof-2.0", thread_id=requested["thread_id"])),
                                     None), 10, what="proof request received")
    matching = wallet.call("GET", f"/present-proof-2.0/records/{record['pres_ex_id']}/credentials")
    chosen = next(c["record_id"] for c in matching if c.get("id") == credential["id"])
    wallet.call("POST", f"/present-proof-2.0/records/{record['pres_ex_id']}/send-presentation",
                {"dif": {"record_ids": {"credential": [chosen]}}})
    refused = env.settled(connected, requested["thread_id"])
    assert refused["state"] == "done" and refused["result"]["verified"] is False, refused
    told = wait_until(lambda: (lambda r: r if r.get("error_msg") else None)(
        wallet.records("present-proof-2.0", thread_id=requested["thread_id"])[0]), 20, what="the wallet told")
    assert "fitmint refused this presentation" in told["error_msg"], told
    assert f"issuer {issuer['result']['did']} is not a trusted issuer" in told["error_msg"], told
    return told
