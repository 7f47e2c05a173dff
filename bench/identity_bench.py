"""Identity benchmark (`make bench`): DIDComm connections/s and credential issue+verify flows/s through our
controller (the API's /identity endpoints, ACA-Py's webhooks, our tables) against driving the same ACA-Py
agent's admin API directly, in the same run; p50/p99 per flow; target: controller overhead < 10%.

    python -m bench.identity_bench [--flows 30] [--rounds 3] [--out reports]

Starts two real ACA-Py agents (tests/identity/agents.py: ours, whose webhooks go to the benchmark's API, and
a holder wallet that accepts invitations, stores credentials and answers proof requests by itself), a fresh
backend database in the stack's PostgreSQL, the API (uvicorn) driving our agent, and the identity reconciler
as the worker runs it. Needs the stack's PostgreSQL and Redis. Everything it starts is stopped and the
database dropped on exit, also on failure. Writes <out>/identity.md and <out>/identity.json.
"""

import argparse
import asyncio
import json
import math
import os
import platform
import secrets as random_source
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from agent.controller import documents, status
from agent.controller.acapy import AcaPy
from agent.controller.handlers import CONNECTION_ACTIVE, FAILED_STATES
from backend.app.core.config import Settings
from backend.app.core.db import create_pool, dsn
from bench.notifications_bench import cpu_seconds, host_busy_seconds, memory_mb, tree_pids
from fitmint import secrets
from tests.support.agents import HOLDER_FLAGS, Agent
from tests.support.api import a_run
from tests.support.databases import create_databases, drop_databases
from tests.support.opa import shared_opa_url
from tests.support.paths import ROOT
from tests.support.processes import Service, settings_env, start_api
from tests.support.signin import sign, sign_in, siwe_message

POLL_S = 0.015  # both modes poll for completion at this interval
FLOW_TIMEOUT_S = 60.0
TARGET_OVERHEAD = 0.10
ACHIEVEMENT = "distance-10k"
GATE = "verified-athlete"
EARNED_KM = 12.0  # two 6 km runs: enough for distance-10k
# The holder answers proof requests by itself (with every credential that matches: the benchmark removes
# each flow's credential from the holder afterwards, so every presentation carries exactly one).
BENCH_HOLDER_FLAGS = (*HOLDER_FLAGS, "--auto-respond-presentation-request")
KINDS = ("connection", "credential")
MODES = ("direct", "controller")


def log(message: str):
    print(f"[bench] {message}", flush=True)


class FlowFailed(RuntimeError):
    pass


WATCHED: list = []  # the processes a flow needs (Service or Agent): one that exits fails the flow at once


def _active(connections: list[dict]) -> dict | None:
    """The active one of an invitation's connection records; FlowFailed if one ended."""
    for connection in connections:
        if connection["state"] in CONNECTION_ACTIVE:
            return connection
        if connection["state"] in FAILED_STATES:
            raise FlowFailed(f"connection {connection['connection_id']} ended {connection['state']}")
    return None


async def poll(check, what: str, timeout: float = FLOW_TIMEOUT_S):
    """`await check()` every POLL_S until it returns something (returned) or raises FlowFailed."""
    deadline = time.monotonic() + timeout
    polls = 0
    while True:
        polls += 1
        value = await check()
        if value is not None:
            return value, polls
        if time.monotonic() > deadline:
            raise FlowFailed(f"{what}: not done after {timeout:g} s")
        for service in WATCHED:
            if service.process.poll() is not None:
                raise FlowFailed(f"{what}: {service.name} exited with {service.process.returncode}")
        await asyncio.sleep(POLL_S)


class Http:
    """A keep-alive JSON client (our agent's or the holder's admin API, or our API) that fails loudly."""

    def __init__(self, base: str, headers: dict):
        self.client = httpx.AsyncClient(base_url=base, headers=headers, timeout=30)

    async def call(self, method: str, path: str, expect=(200,), **kwargs) -> dict:
        response = await self.client.request(method, path, **kwargs)
        if response.status_code not in expect:
            raise FlowFailed(f"{method} {path} answered {response.status_code}: {response.text[:1000]}")
        return response.json() if response.content else {}

    async def close(self):
        await self.client.aclose()


# --- the two ways of running a flow ---------------------------------------------------------------------
# Each flow returns {"total_ms", phase timings, "polls"}; the clock starts before the first request and stops
# when the poll first sees the flow complete.

class Direct:
    """ACA-Py's admin API driven directly, with the controller's own client (agent/controller/acapy.py)
    and documents (documents.py): the same requests, bodies, DID method and proof type, and no tables."""

    def __init__(self, acapy: AcaPy, holder: Http, holder_did: str, gate: dict, settings: Settings):
        self.acapy, self.holder, self.holder_did, self.gate, self.settings = acapy, holder, holder_did, gate, settings
        self.issuer: str | None = None
        self.connection_id: str | None = None
        self.last_presentation: str | None = None

    async def poll_once(self):
        await self.acapy.presentation_exchange(self.last_presentation)

    async def setup(self):
        self.issuer = await self.acapy.create_did_key()  # the controller makes (and caches) one, too
        self.connection_id = (await self.connect())["connection_id"]

    async def connect(self) -> dict:
        started = time.perf_counter()
        created = await self.acapy.create_invitation(label="fitmint", alias="bench direct")
        requested = time.perf_counter()
        await receive(self.holder, created["invitation"])

        async def active():  # the wallet's request accepted as the controller does (invitations: no auto-accept)
            records = await self.acapy.connections_for_invitation(created["invi_msg_id"])
            for record in records:
                if record["state"] == "request" and record["connection_id"] not in accepted:
                    accepted.add(record["connection_id"])
                    await self.acapy.accept_request(record["connection_id"])
            return _active(records)

        accepted: set[str] = set()

        record, polls = await poll(active, f"connection for invitation {created['invi_msg_id']}")
        done = time.perf_counter()
        return {"total_ms": ms(done - started), "request_ms": ms(requested - started), "polls": polls,
                "connection_id": record["connection_id"]}

    async def credential(self) -> dict:
        started = time.perf_counter()
        # The documents the API issues, status entry included (a list the bench never publishes).
        credential = documents.fitness_achievement(
            self.issuer, self.holder_did, documents.ACHIEVEMENTS[ACHIEVEMENT], EARNED_KM, self.settings.default_tenant,
            credential_id=documents.new_credential_id(),
            status=documents.status_entry("https://status.invalid/identity/status/1",
                                          random_source.randbelow(status.LIST_SIZE)))
        sent = await self.acapy.send_credential(self.connection_id, credential, proof_type=documents.PROOF_TYPE)
        requested = time.perf_counter()

        async def issued():  # done: the holder stored it and acknowledged
            state = (await self.acapy.credential_exchange(sent["cred_ex_id"]))["cred_ex_record"]["state"]
            if state in FAILED_STATES:
                raise FlowFailed(f"credential exchange {sent['cred_ex_id']} ended {state}")
            return state if state == "done" else None

        _, issue_polls = await poll(issued, f"credential exchange {sent['cred_ex_id']}")
        issued_at = time.perf_counter()
        definition = documents.presentation_definition(self.gate["credential_type"], self.gate["description"])
        request = await self.acapy.send_proof_request(self.connection_id, definition, challenge=str(uuid.uuid4()),
                                                      domain=self.settings.siwe_domain)
        presented_request = time.perf_counter()

        async def verified():
            record = await self.acapy.presentation_exchange(request["pres_ex_id"])
            if record["state"] in FAILED_STATES:
                raise FlowFailed(f"presentation {request['pres_ex_id']} ended {record['state']}: "
                                 f"{record.get('error_msg')}")
            if record["state"] == "presentation-received":  # as the controller: verified, then acked
                record = await self.acapy.verify_presentation(request["pres_ex_id"])
            if record["state"] != "done":
                return None
            if str(record.get("verified")).lower() != "true":
                raise FlowFailed(f"presentation {request['pres_ex_id']} not verified: {record.get('verified_msgs')}")
            await self.acapy.acknowledge_presentation(request["pres_ex_id"])
            return record

        _, present_polls = await poll(verified, f"presentation {request['pres_ex_id']}")
        done = time.perf_counter()
        self.last_presentation = request["pres_ex_id"]
        return {"total_ms": ms(done - started), "issue_ms": ms(issued_at - started),
                "present_ms": ms(done - issued_at), "request_ms": ms(requested - started),
                "present_request_ms": ms(presented_request - issued_at), "polls": issue_polls + present_polls,
                "credential_id": credential["id"]}


class Controller:
    """The same flows through our API, as a member's client uses it."""

    def __init__(self, api: Http, holder: Http, acapy: AcaPy | None = None):
        self.api, self.holder, self.acapy = api, holder, acapy
        self.connection_id: str | None = None
        self.anomalies: list[str] = []
        self.last_presentation: str | None = None

    async def poll_once(self):
        await self.api.call("GET", f"/identity/exchanges/{self.last_presentation}")

    async def connect(self) -> dict:
        started = time.perf_counter()
        created = await self.api.call("POST", "/identity/connections/invitations", expect=(201,))
        requested = time.perf_counter()
        await receive(self.holder, created["invitation"])
        thread = created["thread_id"]

        async def linked():  # the connection row linked to the member, active
            rows = (await self.api.call("GET", "/identity/connections"))["data"]
            return _active([row for row in rows if row["invitation_msg_id"] == thread])

        row, polls = await poll(linked, f"connection for invitation {thread}")
        done = time.perf_counter()
        return {"total_ms": ms(done - started), "request_ms": ms(requested - started), "polls": polls,
                "connection_id": row["connection_id"]}

    async def exchange(self, thread: str, complete) -> tuple[dict, int]:
        async def settled():
            view = await self.api.call("GET", f"/identity/exchanges/{thread}")
            if view["state"] == "failed":
                raise FlowFailed(f"exchange {thread} failed: {view['failure_reason']}")
            done = complete(view)
            if asyncio.iscoroutine(done):
                done = await done
            return view if done else None

        return await poll(settled, f"exchange {thread}")

    def stored(self, thread: str):
        """Completion of an issue exchange as in direct mode: `done` with the agent's state `done` (the holder
        stored the credential and acknowledged). Guard: should the `done` webhook be applied before the
        `credential-issued` one, the exchange would keep the older agent state; after 3 s in that state the
        agent's own record decides, and the anomaly is reported."""
        since: list[float] = []

        async def check(view: dict) -> bool:
            if view["state"] != "done":
                return False
            if view["agent_state"] == "done":
                return True
            since.append(time.monotonic()) if not since else None
            if time.monotonic() - since[0] < 3 or self.acapy is None:
                return False
            records = (await self.acapy.request("GET", "/issue-credential-2.0/records",
                                                params={"thread_id": thread}))["results"]
            if records and all(r["cred_ex_record"]["state"] == "done" for r in records):
                self.anomalies.append(f"issue exchange {thread}: agent_state stayed {view['agent_state']!r} for 3 s "
                                      "while the agent's record was `done` (webhooks applied out of order?)")
                return True
            return False

        return check

    async def credential(self) -> dict:
        started = time.perf_counter()
        sent = await self.api.call("POST", "/identity/credentials/achievements", expect=(202,),
                                   json={"connection_id": self.connection_id, "achievement": ACHIEVEMENT})
        requested = time.perf_counter()
        # Done as in direct mode: the holder stored the credential and acknowledged (the agent's state
        # `done`; the exchange itself is `done` from `credential-issued` on).
        issued, issue_polls = await self.exchange(sent["thread_id"], self.stored(sent["thread_id"]))
        issued_at = time.perf_counter()
        request = await self.api.call("POST", "/identity/presentations", expect=(202,),
                                      json={"connection_id": self.connection_id, "purpose": GATE})
        presented_request = time.perf_counter()
        view, present_polls = await self.exchange(request["thread_id"], lambda v: v["state"] == "done")
        done = time.perf_counter()
        self.last_presentation = request["thread_id"]
        if not (view.get("result") or {}).get("verified"):
            raise FlowFailed(f"presentation {request['thread_id']} refused: {view.get('result')}")
        return {"total_ms": ms(done - started), "issue_ms": ms(issued_at - started),
                "present_ms": ms(done - issued_at), "request_ms": ms(requested - started),
                "present_request_ms": ms(presented_request - issued_at), "polls": issue_polls + present_polls,
                "credential_id": issued.get("credential_id")}


async def receive(holder: Http, invitation: dict) -> None:
    """The holder accepts an invitation as a new connection. Not ACA-Py's default (reuse an existing
    connection to the same inviter DID): the controller's invitations all carry one did:peer:4 (ACA-Py reuses
    its invitation DID unless asked for a unique one), so a reusing wallet answers every invitation after the
    first with a `reuse` of its first connection, which neither the agent's connection records nor our
    controller link to the new invitation (see the report)."""
    await holder.call("POST", "/out-of-band/receive-invitation", json=invitation,
                      params={"use_existing_connection": "false"})


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def clear_holder(holder: Http) -> int:
    """Removes every credential from the holder's wallet (outside the timing): the next presentation then
    carries exactly the credential its flow issued, as a wallet's user would pick it."""
    records = (await holder.call("POST", "/credentials/w3c", json={}))["results"]
    for record in records:
        await holder.call("DELETE", f"/credential/w3c/{record['record_id']}")
    return len(records)


# --- processes and their CPU ------------------------------------------------------------------------------

class Cpu:
    """CPU seconds of each process we started (and the stack's PostgreSQL server, whole: shared with
    whatever else uses it), plus the whole host's busy time."""

    def __init__(self, stack_run_dir: Path):
        self.roots: dict[str, int] = {"bench client": os.getpid()}
        try:
            self.roots["postgres (whole server)"] = int((stack_run_dir / "postgres.pid").read_text().strip())
        except (OSError, ValueError):
            pass

    def pids(self, name: str) -> list[int]:
        # The benchmark process alone (the API, agents and reconciler are its children); the others with
        # their children (PostgreSQL's backends).
        return [self.roots[name]] if name == "bench client" else tree_pids(self.roots[name])

    def read(self) -> dict[str, float]:
        values = {name: cpu_seconds(self.pids(name)) for name in self.roots}
        values["host (all cores)"] = host_busy_seconds()
        return values

    def memory(self) -> dict[str, float]:
        return {name: memory_mb(self.pids(name)) for name in self.roots if not name.startswith("postgres")}


def reconciler_main() -> None:
    """The identity reconciler exactly as `python -m backend.app.worker` runs it (same function, same lock,
    same interval), without the worker's Kafka consumer, senders and scheduler: none of them takes part
    in an identity flow, and the benchmark needs no Kafka."""
    import logging

    from agent.controller.reconciler import run_reconciler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def serve():
        settings = Settings()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        pool = await create_pool(settings, settings.backend_database, min_size=1, max_size=8)
        try:
            await run_reconciler(pool, settings, stop)
        finally:
            await pool.close()

    asyncio.run(serve())


def start_reconciler(settings: Settings, log_dir: Path) -> Service:
    service = Service("reconciler", [sys.executable, "-m", "bench.identity_bench", "--reconciler"],
                      settings_env(settings), log_dir / "reconciler.log").start()
    service.wait_for(lambda: "reconciling identity exchanges" in service.log, timeout=30, what="reconciling")
    return service


# --- the run ---------------------------------------------------------------------------------------------

def bench_settings(base: Settings, state_dir: Path, run_id: str, ours: Agent, key_file: Path) -> Settings:
    return base.model_copy(update={
        "fitmint_state_dir": state_dir,
        "postgres_password_file": (base.postgres_password_file
                                   or base.fitmint_state_dir / "secrets" / "postgres-password"),
        "backend_database": f"bench_identity_{run_id}",
        "acapy_admin_url": ours.admin_url, "acapy_admin_key_file": key_file,
        "opa_url": shared_opa_url(),  # the API's decisions: a real OPA with policy/ (tests/support/opa.py)
        "relay_enabled": False,  # the API's outbox relay needs Kafka and plays no part here
        "rate_limit_auth": 1_000_000, "rate_limit_account": 1_000_000, "rate_limit_public": 1_000_000,
        "rate_limit_public_window_seconds": 3600,
        "access_token_ttl_seconds": 3600})


async def read_gate(settings: Settings) -> dict:
    connection = await asyncpg.connect(dsn(settings, settings.backend_database))
    try:
        row = await connection.fetchrow("SELECT * FROM identity_gates WHERE gate = $1", GATE)
        counts = {table: await connection.fetchval(f"SELECT count(*) FROM {table}") for table in
                  ("identity_exchanges", "didcomm_connections", "issued_credentials", "processed_agent_events")}
    finally:
        await connection.close()
    if row is None:
        raise FlowFailed(f"the migrations did not create the gate {GATE!r}")
    return {"gate": dict(row), "counts": counts}


def member_setup(base: str, settings: Settings) -> tuple[dict, object]:
    """A member signed in with SIWE and 12 km of accepted workouts (an achievement needs them): returns its
    Authorization header and its wallet."""
    from eth_account import Account
    wallet = Account.create()
    with httpx.Client(base_url=base, timeout=30) as client:
        headers = sign_in(client, settings, wallet)
        for index in range(2):
            response = client.post("/fitness/workouts", headers=headers,
                                   json=a_run(hours_ago=3 + 2 * index, km=EARNED_KM / 2, minutes=36))
            if response.status_code != 201:
                raise FlowFailed(f"workout refused: {response.status_code} {response.text}")
    return headers, wallet


async def bind(api: Http, base: str, settings: Settings, wallet, connection_id: str, holder_did: str):
    with httpx.Client(base_url=base, timeout=30) as client:
        message = siwe_message(client, settings, wallet, statement="Bind my wallet to my DIDComm wallet")
    sent = await api.call("POST", "/identity/bindings", expect=(202,), json={
        "connection_id": connection_id, "holder_did": holder_did, "message": message,
        "signature": sign(message, wallet)})
    controller = Controller(api, None)
    await controller.exchange(sent["thread_id"], controller.stored(sent["thread_id"]))


async def run_flows(args, settings: Settings, log_dir: Path) -> dict:
    home = log_dir / "agents"
    ours = Agent("fitmint-bench", home / "ours", ours=True)
    holder_agent = Agent("holder-bench", home / "holder", flags=BENCH_HOLDER_FLAGS)
    key_file = log_dir / "acapy-admin-key"
    secrets.write(key_file, ours.admin_key)
    key_file.chmod(0o600)
    settings = bench_settings(settings, log_dir, uuid.uuid4().hex[:8], ours, key_file)
    cpu = Cpu(Settings().fitmint_state_dir / "run")
    log(f"database {settings.backend_database}; our agent admin {ours.admin_url}, "
        f"holder admin {holder_agent.admin_url}")
    await create_databases([settings.backend_database], dsn=dsn(settings, "postgres"))
    services: list = []
    clients: list[Http] = []
    acapy = None
    try:
        started = time.perf_counter()
        api, base = await asyncio.to_thread(start_api, settings, log_dir, avoid=ours.ports | holder_agent.ports)
        services.append(api)
        cpu.roots["api (uvicorn)"] = api.process.pid
        ours.webhook_url = base + "/agent/webhooks"
        await asyncio.gather(asyncio.to_thread(ours.start), asyncio.to_thread(holder_agent.start))
        services += [ours, holder_agent]
        cpu.roots["our agent"] = ours.process.pid
        cpu.roots["holder agent"] = holder_agent.process.pid
        reconciler = await asyncio.to_thread(start_reconciler, settings, log_dir)
        services.append(reconciler)
        cpu.roots["reconciler"] = reconciler.process.pid
        WATCHED[:] = services
        log(f"API {base} (pid {api.process.pid}), agents pids {ours.process.pid}/{holder_agent.process.pid}, "
            f"reconciler pid {reconciler.process.pid}: up in {time.perf_counter() - started:.1f} s")

        holder = Http(holder_agent.admin_url, holder_agent.headers)
        clients.append(holder)
        holder_did = (await holder.call("POST", "/wallet/did/create",
                                        json={"method": "key", "options": {"key_type": "ed25519"}}))["result"]["did"]
        headers, wallet = await asyncio.to_thread(member_setup, base, settings)
        api_client = Http(base, headers)
        clients.append(api_client)
        acapy = AcaPy(settings)
        gate = (await read_gate(settings))["gate"]
        direct = Direct(acapy, holder, holder_did, gate, settings)
        controller = Controller(api_client, holder, acapy)
        await direct.setup()
        controller.connection_id = (await controller.connect())["connection_id"]
        await bind(api_client, base, settings, wallet, controller.connection_id, holder_did)
        await clear_holder(holder)
        log(f"member signed in (SIWE), 12 km of workouts, connections (direct {direct.connection_id}, controller "
            f"{controller.connection_id}), holder DID {holder_did} bound")

        runners = {"direct": direct, "controller": controller}

        async def one(mode: str, kind: str) -> dict:
            runner = runners[mode]
            result = await (runner.connect() if kind == "connection" else runner.credential())
            if kind == "credential":
                await clear_holder(holder)
            return result

        log(f"warm-up: {args.warmup} flows of each kind in each mode")
        for _ in range(args.warmup):
            for mode in MODES:
                for kind in KINDS:
                    await one(mode, kind)

        per_round = [args.flows // args.rounds + (1 if r < args.flows % args.rounds else 0) for r in range(args.rounds)]
        samples = {kind: {mode: [] for mode in MODES} for kind in KINDS}
        cpu_spent = {kind: {mode: {} for mode in MODES} for kind in KINDS}
        wall = {kind: {mode: 0.0 for mode in MODES} for kind in KINDS}
        batches = []
        for round_index, count in enumerate(per_round):
            order = MODES if round_index % 2 == 0 else MODES[::-1]  # who goes first alternates
            for kind in KINDS:
                for mode in order:
                    before, t0 = cpu.read(), time.perf_counter()
                    flows = [await one(mode, kind) for _ in range(count)]
                    # The holder clean-up after each credential flow is inside this window: both modes alike.
                    seconds, after = time.perf_counter() - t0, cpu.read()
                    for flow in flows:
                        flow["round"] = round_index
                    samples[kind][mode] += flows
                    wall[kind][mode] += seconds
                    for name, value in after.items():
                        if name in before:
                            cpu_spent[kind][mode][name] = cpu_spent[kind][mode].get(name, 0.0) + value - before[name]
                    batch = summarize([f["total_ms"] for f in flows])
                    batches.append({"round": round_index, "kind": kind, "mode": mode, **batch})
                    log(f"round {round_index + 1}/{len(per_round)} {kind:10s} {mode:10s}: {count} flows, "
                        f"{batch['per_s']:.2f}/s, p50 {batch['p50_ms']:.0f} ms, max {batch['max_ms']:.0f} ms")
        polls = await poll_cost(runners, cpu, args.poll_samples)
        memory = cpu.memory()
        tables = await read_gate(settings)
        return {"samples": samples, "cpu_spent": cpu_spent, "wall": wall, "batches": batches, "memory_mb": memory,
                "tables": tables["counts"], "per_round": per_round, "anomalies": controller.anomalies,
                "poll_cost": polls}
    except BaseException:
        for service in services:
            tail = service.log[-3000:]
            if tail:
                log(f"--- {service.name} log (tail) ---\n{tail}")
        raise
    finally:
        for client in clients:
            await client.close()
        if acapy is not None:
            await acapy.close()
        for service in reversed(services):
            await asyncio.to_thread(service.stop)
        for agent in (ours, holder_agent):  # started or not: stop() is a no-op for one that is not running
            await asyncio.to_thread(agent.stop)
        try:
            await drop_databases([settings.backend_database], dsn=dsn(settings, "postgres"))
            log(f"database {settings.backend_database} dropped, processes stopped")
        except Exception as exc:  # noqa: BLE001 - say what is left behind
            log(f"warning: drop the database {settings.backend_database} by hand ({exc!r})")


# --- statistics and the report -------------------------------------------------------------------------------

async def poll_cost(runners: dict, cpu: Cpu, samples: int) -> dict:
    """What one completion poll costs: `samples` sequential reads of a finished presentation, in each mode
    (the agent's record directly; our exchange through the API). Wall time and the CPU of each process."""
    result = {}
    for mode in MODES:
        runner = runners[mode]
        for _ in range(5):
            await runner.poll_once()
        before, times = cpu.read(), []
        for _ in range(samples):
            t0 = time.perf_counter()
            await runner.poll_once()
            times.append(time.perf_counter() - t0)
        after = cpu.read()
        times.sort()
        result[mode] = {"samples": samples, "p50_ms": ms(quantile(times, 0.5)), "p99_ms": ms(quantile(times, 0.99)),
                        "cpu_ms_per_poll": {name: round(1000 * (after[name] - before[name]) / samples, 2)
                                            for name in after if name in before and name != "host (all cores)"}}
        log(f"one poll ({mode}): p50 {result[mode]['p50_ms']} ms; CPU per poll " +
            ", ".join(f"{n} {v} ms" for n, v in result[mode]["cpu_ms_per_poll"].items() if v))
    return result


def quantile(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]  # nearest rank


def summarize(values: list[float]) -> dict:
    ordered = sorted(values)
    total_s = sum(ordered) / 1000
    return {"flows": len(ordered), "per_s": round(len(ordered) / total_s, 3) if total_s else 0.0,
            "mean_ms": round(statistics.mean(ordered), 1), "p50_ms": round(quantile(ordered, 0.5), 1),
            "p90_ms": round(quantile(ordered, 0.9), 1), "p99_ms": round(quantile(ordered, 0.99), 1),
            "max_ms": round(ordered[-1], 1), "min_ms": round(ordered[0], 1)}


def analyse(raw: dict) -> dict:
    results = {}
    for kind in KINDS:
        modes = {}
        for mode in MODES:
            flows = raw["samples"][kind][mode]
            stats = summarize([f["total_ms"] for f in flows])
            phases = [p for p in ("request_ms", "issue_ms", "present_ms", "present_request_ms") if p in flows[0]]
            stats["phases_p50_ms"] = {p: round(statistics.median(f[p] for f in flows), 1) for p in phases}
            stats["polls_per_flow"] = round(statistics.mean(f["polls"] for f in flows), 1)
            stats["cpu_ms_per_flow"] = {name: round(1000 * spent / len(flows), 1)
                                        for name, spent in raw["cpu_spent"][kind][mode].items()}
            stats["window_s"] = round(raw["wall"][kind][mode], 2)
            modes[mode] = stats
        overhead = 1 - modes["controller"]["per_s"] / modes["direct"]["per_s"]
        median_overhead = 1 - modes["direct"]["p50_ms"] / modes["controller"]["p50_ms"]
        rounds = []
        for batch_round in sorted({b["round"] for b in raw["batches"]}):
            pair = {b["mode"]: b for b in raw["batches"] if b["round"] == batch_round and b["kind"] == kind}
            rounds.append(round(1 - pair["controller"]["per_s"] / pair["direct"]["per_s"], 4))
        results[kind] = {**modes, "overhead": round(overhead, 4), "overhead_p50": round(median_overhead, 4),
                         "overhead_by_round": rounds, "added_ms_per_flow": round(
                             modes["controller"]["mean_ms"] - modes["direct"]["mean_ms"], 1),
                         "pass": overhead < TARGET_OVERHEAD}
    return results


def machine() -> dict:
    model = ""
    if Path("/proc/cpuinfo").exists():
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    import uvicorn
    acapy_version = "?"
    try:
        venv = Path(os.environ["ACAPY_VENV"])
        dist_info = next(venv.glob("lib/python3*/site-packages/acapy_agent-*.dist-info"))
        acapy_version = dist_info.name.removesuffix(".dist-info").split("-")[1]
    except (KeyError, StopIteration):
        pass
    load = os.getloadavg()
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model or platform.processor(),
            "python": platform.python_version(), "uvicorn": uvicorn.__version__, "acapy": acapy_version,
            "loadavg_at_end": [round(v, 2) for v in load]}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_report(out: Path, args, raw: dict, results: dict, elapsed_s: float):
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **machine(),
            "elapsed_s": round(elapsed_s, 1)}
    parameters = {"flows_per_mode_and_kind": args.flows, "rounds": args.rounds, "per_round": raw["per_round"],
                  "warmup_per_mode_and_kind": args.warmup, "poll_interval_ms": POLL_S * 1000,
                  "achievement": ACHIEVEMENT, "gate": GATE, "proof_type": documents.PROOF_TYPE,
                  "holder_flags": list(BENCH_HOLDER_FLAGS), "target_overhead": TARGET_OVERHEAD}
    samples = {kind: {mode: [{k: v for k, v in f.items() if k not in ("connection_id", "credential_id")}
                             for f in raw["samples"][kind][mode]] for mode in MODES} for kind in KINDS}
    (out / "identity.json").write_text(json.dumps(
        {"meta": meta, "parameters": parameters, "results": results, "batches": raw["batches"],
         "poll_cost": raw["poll_cost"], "memory_mb": raw["memory_mb"], "controller_tables": raw["tables"],
         "anomalies": raw["anomalies"], "samples": samples}, indent=2) + "\n")

    c, k = results["connection"], results["credential"]

    def pct(v: float) -> str:
        return f"{100 * v:.1f}%"

    overall = c["pass"] and k["pass"]

    def row(name: str, kind: dict, mode: str) -> str:
        s = kind[mode]
        return (f"| {name} | {mode} | {s['per_s']:.2f}/s | {s['mean_ms']:.0f} | {s['p50_ms']:.0f} | "
                f"{s['p99_ms']:.0f} | {s['max_ms']:.0f} | {s['min_ms']:.0f} |")

    def cpu_rows(kind: str) -> list[str]:
        names = list(results[kind]["direct"]["cpu_ms_per_flow"])
        lines = ["| process | direct | controller | added by the controller |", "|---|---:|---:|---:|"]
        for name in names:
            d = results[kind]["direct"]["cpu_ms_per_flow"].get(name, 0.0)
            ctl = results[kind]["controller"]["cpu_ms_per_flow"].get(name, 0.0)
            lines.append(f"| {name} | {d:.0f} | {ctl:.0f} | {ctl - d:+.0f} |")
        return lines

    kp, dp = k["controller"]["phases_p50_ms"], k["direct"]["phases_p50_ms"]
    pc = raw["poll_cost"]

    def poll_cpu(mode: str) -> str:
        return ", ".join(f"{n} {v:g} ms" for n, v in pc[mode]["cpu_ms_per_poll"].items() if v >= 0.05)
    lines = [
        "# Identity benchmark: our controller vs ACA-Py's admin API",
        "",
        f"Generated {meta['generated_at']} by `make bench` (`python -m bench.identity_bench --flows {args.flows}`) on "
        f"{meta['nproc']} cores ({meta['cpu']}), Python {meta['python']}, uvicorn {meta['uvicorn']}, ACA-Py "
        f"{meta['acapy']}; the whole run took {meta['elapsed_s']:.0f} s (load average at the end "
        f"{' / '.join(str(v) for v in meta['loadavg_at_end'])}).",
        "",
        "Everything shares those 2 cores, which other sessions' tests and benchmarks may use at the same time:",
        "two ACA-Py agents (askar-anoncreds wallets, `tests/identity/agents.py`; ours sends its webhooks to the",
        "benchmark's API, the holder runs with "
        f"`{' '.join(BENCH_HOLDER_FLAGS)}`), the API (one uvicorn process, a fresh backend database in the stack's",
        "PostgreSQL, the stack's Redis), the identity reconciler (`run_reconciler`, as the worker runs it: every "
        "5 s) and the benchmark client (one Python process). All of it is started for the run and stopped, and "
        "the database dropped, at the end.",
        "",
        "## What is compared",
        "",
        "Each flow runs one at a time, timed from its first request until the client's poll (every "
        f"{POLL_S * 1000:g} ms in both modes, on keep-alive connections) first sees it complete:",
        "",
        "| flow | direct: ACA-Py's admin API | controller: our API |",
        "|---|---|---|",
        "| connection | our agent `POST /out-of-band/create-invitation` (OOB 1.1, DID Exchange 1.1, did:peer:4, "
        "auto-accept: the controller's own client `acapy.py`), the holder `POST /out-of-band/receive-invitation`; "
        "done when our agent's `GET /connections?invitation_msg_id=` shows it `active` | "
        "`POST /identity/connections/invitations`, the holder receives the invitation; done when "
        "`GET /identity/connections` lists it, linked to the member, `active` |",
        "| credential issue + verify | `POST /issue-credential-2.0/send` with the same `ld_proof` FitnessAchievement "
        "(documents.py, our JSON-LD context inline, Ed25519Signature2020, issuer did:key) -> record `done` "
        "(the holder stored it and acknowledged); then `POST /present-proof-2.0/send-request` with the same DIF "
        "definition (verified-athlete gate, `is_holder`), challenge and domain -> record `done`, `verified: true` | "
        "`POST /identity/credentials/achievements` -> `GET /identity/exchanges/{thread_id}` `done` with agent "
        "state `done`; then `POST /identity/presentations` (purpose verified-athlete) -> the exchange `done` "
        "with `result.verified: true` (the agent's signature check plus ours: trusted issuer, not revoked, "
        "type, subject = signer = the bound holder DID) |",
        "",
        f"Setup (not timed): a member signed in with SIWE, {EARNED_KM:g} km of workouts posted, one connection "
        "per mode for the credential flows, the holder's did:key bound to the member through "
        "`POST /identity/bindings`. After each credential flow the holder's stored credentials are removed "
        "(inside the measured window but outside each flow's clock, in both modes), so every presentation "
        "carries exactly one credential. "
        f"{args.warmup} warm-up flow(s) of each kind in each mode, then {args.rounds} rounds of "
        f"{'/'.join(str(n) for n in raw['per_round'])} flows per kind and mode, direct and controller "
        "alternating which goes first, so drift on the shared machine hits both. flows/s = flows / the sum "
        "of their durations; overhead = 1 - controller flows/s / direct flows/s.",
        "",
        "## Results",
        "",
        "| flow | mode | flows/s | mean ms | p50 ms | p99 ms | max ms | min ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        row("connection", c, "direct"), row("connection", c, "controller"),
        row("credential issue + verify", k, "direct"), row("credential issue + verify", k, "controller"),
        "",
        f"(p99 by nearest rank: with {args.flows} flows per mode it is the slowest flow, the max.)",
        "",
        "| flow | controller overhead | target | result | overhead per round | p50-based | time added per flow |",
        "|---|---:|---:|---|---|---:|---:|",
        f"| connections/s | {pct(c['overhead'])} | < {pct(TARGET_OVERHEAD)} | **{verdict(c['pass'])}** | "
        f"{', '.join(pct(v) for v in c['overhead_by_round'])} | {pct(c['overhead_p50'])} | "
        f"{c['added_ms_per_flow']:+.0f} ms |",
        f"| credential issue + verify flows/s | {pct(k['overhead'])} | < {pct(TARGET_OVERHEAD)} | "
        f"**{verdict(k['pass'])}** | {', '.join(pct(v) for v in k['overhead_by_round'])} | "
        f"{pct(k['overhead_p50'])} | {k['added_ms_per_flow']:+.0f} ms |",
        "",
        f"Overall: **{verdict(overall)}**",
        "",
        "Where the credential flow's time goes (medians, ms):",
        "",
        "| phase | direct | controller |",
        "|---|---:|---:|",
        f"| issue: offer sent -> holder stored it and acknowledged | {dp['issue_ms']:.0f} | {kp['issue_ms']:.0f} |",
        f"| ... of which the offer request (agent call, or API call) | {dp['request_ms']:.0f} | "
        f"{kp['request_ms']:.0f} |",
        f"| present: proof request -> verified | {dp['present_ms']:.0f} | {kp['present_ms']:.0f} |",
        f"| ... of which the request (agent call, or API call) | {dp['present_request_ms']:.0f} | "
        f"{kp['present_request_ms']:.0f} |",
        f"| connection: the invitation request | {c['direct']['phases_p50_ms']['request_ms']:.0f} | "
        f"{c['controller']['phases_p50_ms']['request_ms']:.0f} |",
        "",
        "CPU per connection flow (ms of CPU, all processes' user+system time over the measured windows divided "
        "by the flows; \"postgres (whole server)\" and \"host\" include anything else running meanwhile):",
        "",
        *cpu_rows("connection"),
        "",
        "CPU per credential issue + verify flow (ms):",
        "",
        *cpu_rows("credential"),
        "",
        f"Memory (PSS) at the end: {', '.join(f'{n} {v:g} MB' for n, v in raw['memory_mb'].items())}.",
        "",
        "What one completion poll costs (a finished presentation read "
        f"{raw['poll_cost']['direct']['samples']} times in a row after the rounds; CPU ms per read):",
        "",
        "| mode | what is read | p50 / p99 ms | CPU per read |",
        "|---|---|---:|---|",
        f"| direct | our agent's `GET /present-proof-2.0/records/{{id}}` | {pc['direct']['p50_ms']} / "
        f"{pc['direct']['p99_ms']} | {poll_cpu('direct')} |",
        f"| controller | our API's `GET /identity/exchanges/{{thread_id}}` | {pc['controller']['p50_ms']} / "
        f"{pc['controller']['p99_ms']} | {poll_cpu('controller')} |",
        "",
        "A poll of the agent costs the agent itself CPU (it serialises the whole record: request, presentation, "
        "verification), the very process every flow waits on; a poll of our API costs the API and PostgreSQL "
        "instead. At one poll per "
        f"{POLL_S * 1000:g} ms both modes pay this during every wait "
        f"({k['direct']['polls_per_flow']:g} polls per credential flow in direct mode, "
        f"{k['controller']['polls_per_flow']:g} through the controller; connections "
        f"{c['direct']['polls_per_flow']:g} / {c['controller']['polls_per_flow']:g}), so the direct baseline is "
        "slowed a little by its own polling: a controller-less client driven by webhooks would be a somewhat "
        "faster baseline.",
        "",
        "## What the controller adds",
        "",
        "- **The API request**: each step is a call to our API (JWT check, the member's connection row, the gate "
        "and, for an achievement, the sum of accepted workouts, the issuer DID and the tenant) which then makes "
        "the same admin API call, and writes the exchange row (and the credential row) in PostgreSQL before it "
        "answers.",
        "- **The webhook hop**: the client learns the outcome from our tables, not from the agent: ACA-Py posts "
        "each state change to `/agent/webhooks/topic/{topic}/`; the API answers at once and applies it after "
        "the response in a transaction (idempotency key in `processed_agent_events`, the exchange row locked, "
        "state updated). For a credential, the issued document is not in the webhook, so the handler reads the "
        "record back from the admin API (once at `credential-issued`, again at `done`); for a presentation, "
        "the handler adds our checks (trusted issuers, revocation, holder binding) on top of the agent's "
        "signature check. The client's poll then reads our tables through the API.",
        "- **The reconciler**: every 5 s it reads each pending exchange back from the agent (here at most one "
        "is pending at a time).",
        "- In direct mode the agent still posts its webhooks to the same API (the same agent, started once); "
        "the API finds they are not exchanges of ours after one indexed lookup. That cost is in both modes.",
        "",
        "Our agent spends less CPU per flow in controller mode than in direct mode: the client's polls go to "
        "the API instead of the agent (see the cost of one poll above); the API's added CPU is mostly those "
        "polls, the webhooks it applies and the read-backs.",
        "",
        "Both modes wait on the same agent work: DID Exchange round trips between the two agents, JSON-LD "
        "canonicalisation and Ed25519 signing of the credential (our agent) and the presentation (the holder), "
        "verification of both signatures (our agent), askar wallet writes. That work dominates each flow; "
        "the controller's share is the difference in the tables above.",
        "",
        "## What a connection flow is here",
        "",
        "- The holder receives every invitation with `use_existing_connection=false`, in both modes, so each "
        "flow is a full DID Exchange. With ACA-Py's default (reuse) a wallet that already knows our agent "
        "answers with a handshake reuse instead; the controller settles the invitation on that connection "
        "(tests/identity: `test_a_wallet_reusing_its_connection_settles_the_invitation`), which is cheaper "
        "and not what this measures.",
        "",
        "## Caveats",
        "",
        "- 2 shared cores: the agents, the API, PostgreSQL and the client compete for them, and other sessions' "
        "tests and benchmarks may run at the same time (see the load average above and the host CPU rows). "
        "The alternating rounds spread such drift over both modes; the per-round overheads show how much it "
        "moves the result.",
        f"- With {args.flows} sequential flows per mode the flows/s are 1 / mean duration: a latency measure "
        "of one member's flow, not the agent's capacity under concurrent load.",
        "- Both modes poll at the same interval; a client that used webhooks of its own in direct mode (or "
        "server push from our API) would see completions up to one poll interval sooner in either mode.",
        "",
    ]
    if raw["anomalies"]:
        lines += ["## Anomalies seen", "", *[f"- {a}" for a in raw["anomalies"]], ""]
    (out / "identity.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=30, help="flows of each kind in each mode (after warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds the flows are split into (modes alternate)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up flows of each kind in each mode")
    parser.add_argument("--poll-samples", type=int, default=200, help="reads timed for the cost of one poll")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--reconciler", action="store_true", help=argparse.SUPPRESS)  # the reconciler process
    args = parser.parse_args()
    if args.reconciler:
        reconciler_main()
        return 0
    if args.flows < args.rounds or args.rounds < 1 or args.warmup < 0:
        parser.error("need --rounds >= 1, --flows >= --rounds and --warmup >= 0")
    if "ACAPY_VENV" not in os.environ:
        parser.error("ACAPY_VENV is not set: source scripts/toolchain/env.sh (make bench does)")

    def terminate(signum, frame):  # SIGTERM: clean up like Ctrl-C does
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    state_dir = Path(tempfile.mkdtemp(prefix="bench-identity-"))
    started = time.perf_counter()
    ok = False
    try:
        raw = asyncio.run(run_flows(args, Settings(), state_dir))
        ok = True
    except (FlowFailed, AssertionError, RuntimeError, OSError, asyncpg.PostgresError, httpx.HTTPError) as error:
        print(f"identity_bench: {error}", file=sys.stderr)
        print(f"identity_bench: logs kept in {state_dir} (wallets and secrets removed)", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        print(f"identity_bench: interrupted ({interrupt or 'Ctrl-C'}); everything it started is stopped, its "
              f"database dropped; logs kept in {state_dir}", file=sys.stderr)
        return 130
    finally:
        if ok:
            shutil.rmtree(state_dir, ignore_errors=True)
        else:
            for wallet in (state_dir / "agents").glob("*/wallet"):  # the agents' wallets; their logs stay
                shutil.rmtree(wallet, ignore_errors=True)
            shutil.rmtree(state_dir / "secrets", ignore_errors=True)
            (state_dir / "acapy-admin-key").unlink(missing_ok=True)
    results = analyse(raw)
    write_report(args.out, args, raw, results, time.perf_counter() - started)
    for kind in KINDS:
        r = results[kind]
        log(f"{kind}: direct {r['direct']['per_s']:.2f}/s (p50 {r['direct']['p50_ms']:.0f} ms), controller "
            f"{r['controller']['per_s']:.2f}/s (p50 {r['controller']['p50_ms']:.0f} ms): overhead "
            f"{100 * r['overhead']:.1f}% -> {verdict(r['pass'])}")
    log(f"report: {args.out / 'identity.md'}")
    return 0  # a missed target is in the report (FAIL), like the other benchmarks; errors exit 1


if __name__ == "__main__":
    raise SystemExit(main())
