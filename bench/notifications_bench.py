"""Notifications benchmark (`make bench`): notifications delivered per second from Kafka to WebSocket
clients, and end-to-end latency from an OrderCreated mined to the buyer's WebSocket message. The path:
chain event on Kafka -> the worker's `fitmint-notifications` group (notification + NotificationQueued in
one transaction) -> the API's outbox relay -> Kafka -> the worker's `fitmint-deliveries` group -> Redis
-> the API's WebSocket.

    python -m bench.notifications_bench [--clients 1000] [--events 20000] [--latency-samples 100] [--out reports]

Runs on the local stack's PostgreSQL, Redis and Kafka, in a fresh backend database, a fresh indexer
database, a fresh Kafka topic prefix and consumer group (all removed at the end), with a real API
(uvicorn, one process), a real worker (`--no-scheduler --no-senders`) and, for the latency, a private
Anvil and a real indexer process. Writes <out>/notifications.md and <out>/notifications.json.
"""

import argparse
import asyncio
import importlib.util
import json
import math
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import orjson
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import DeleteGroupsRequest
from eth_account import Account
from redis.asyncio import Redis

from backend.app.auth.tokens import Subject, TokenService
from backend.app.core.config import Settings
from backend.app.core.db import dsn
from backend.app.notifications.events import token_minted
from backend.app.notifications.store import PUSH_CHANNEL
from fitmint import events as ev
from indexer.settings import Settings as IndexerSettings
from scripts.stack.kafka_topics import ensure_topics
from tests.support.databases import create_databases, drop_databases
from tests.support.opa import shared_opa_url
from tests.support.paths import ROOT
from tests.support.processes import Service, settings_env, start_api, start_worker
from tests.support.scenario import ScenarioChain
from tests.support.units import FIT

PRICE = 2 * FIT  # the latency listing's unit price
CONNECT_CONCURRENCY = 50  # WebSocket handshakes in flight at once
PUBLISH_CHUNK = 5_000  # records handed to the producer before waiting for their acks
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str):
    print(f"[bench] {message}", flush=True)


# --- isolated targets ----------------------------------------------------------------------------------

def bench_settings(base: Settings, state_dir: Path, run_id: str) -> Settings:
    """The API's and worker's settings: the stack's servers, this run's databases, topics and group.
    The state directory is private (the key ring the benchmark signs its tokens with lives there)."""
    return base.model_copy(update={
        "fitmint_state_dir": state_dir,
        "postgres_password_file": (base.postgres_password_file
                                   or base.fitmint_state_dir / "secrets" / "postgres-password"),
        "backend_database": f"bench_backend_{run_id}",
        "opa_url": shared_opa_url(),  # the API's decisions: a real OPA with policy/ (tests/support/opa.py)
        "indexer_database": f"bench_indexer_{run_id}",
        "kafka_topic_prefix": f"bench-{run_id}.",
        "notifications_consumer_group": f"bench-notifications-{run_id}",
        "deliveries_consumer_group": f"bench-deliveries-{run_id}",
        "email_consumer_group": f"bench-email-{run_id}",
        "rate_limit_auth": 1_000_000, "rate_limit_account": 1_000_000, "rate_limit_public": 1_000_000,
        "rate_limit_public_window_seconds": 3600,
        "access_token_ttl_seconds": 3600,
        "worker_metrics_port": 0})  # the stack's worker has the default port (make up runs one)


async def create_targets(settings: Settings):
    await create_databases([settings.backend_database, settings.indexer_database], dsn=dsn(settings, "postgres"))
    await ensure_topics(settings.bootstrap, [settings.kafka_topic_prefix + t for t in ev.ALL_TOPICS], 3)


async def drop_targets(settings: Settings):
    await drop_databases([settings.backend_database, settings.indexer_database], dsn=dsn(settings, "postgres"))
    for attempt in range(6):  # the shared broker may be restarting (other sessions' tests stop it)
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
        try:
            await admin.start()
            doomed = [t for t in await admin.list_topics() if t.startswith(settings.kafka_topic_prefix)]
            if doomed:
                await admin.delete_topics(doomed)
            for group in (settings.notifications_consumer_group, settings.deliveries_consumer_group):
                await delete_group(admin, group)
            return
        except KafkaError as exc:
            if attempt == 5:
                raise
            log(f"Kafka unreachable ({exc!r}): retrying the clean-up in 10 s")
            await asyncio.sleep(10)
        finally:
            await admin.close()


async def delete_group(admin: AIOKafkaAdminClient, group: str) -> None:
    """Deletes a (stopped) consumer group: aiokafka's admin client has no call for it, so the request is
    sent to the group's coordinator directly. Best effort: a group left behind is only a name."""
    try:
        node = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(node, DeleteGroupsRequest([group]))
        for name, code in response.results:
            if code not in (0, 69):  # 69: GROUP_ID_NOT_FOUND
                log(f"warning: consumer group {name} not deleted (Kafka error {code})")
    except Exception as exc:  # noqa: BLE001 - best effort (see above): said, not raised
        log(f"warning: consumer group {group} not deleted: {exc!r}")


async def backend_db(settings: Settings) -> asyncpg.Connection:
    return await asyncpg.connect(dsn(settings, settings.backend_database))


# --- members and their WebSocket clients ------------------------------------------------------------------

async def create_members(settings: Settings, count: int) -> tuple[str, list[dict]]:
    """`count` members of the default tenant (made by the API on start), each with a fresh wallet linked
    and WebSocket notifications on; inserted in bulk, as sign-in would leave them."""
    addresses = [Account.create().address for _ in range(count)]
    connection = await backend_db(settings)
    try:
        async with connection.transaction():
            tenant_id = await connection.fetchval("SELECT id::text FROM tenants WHERE slug = $1",
                                                  settings.default_tenant)
            if tenant_id is None:
                raise RuntimeError(f"the API did not create its default tenant {settings.default_tenant!r}")
            user_ids = await connection.fetchval(
                "WITH u AS (INSERT INTO users (tenant_id, preferences) SELECT $1::uuid, $2::jsonb "
                "FROM generate_series(1, $3) RETURNING id) SELECT array_agg(id::text) FROM u",
                tenant_id, json.dumps({"notification_channels": ["websocket"]}), count)
            await connection.execute(
                "INSERT INTO wallet_links (tenant_id, address, user_id) "
                "SELECT $1::uuid, a, u FROM unnest($2::text[], $3::uuid[]) AS x(a, u)",
                tenant_id, [a.lower() for a in addresses], user_ids)
    finally:
        await connection.close()
    return tenant_id, [{"address": a, "user_id": u} for a, u in zip(addresses, user_ids, strict=True)]


async def link_wallet(settings: Settings, tenant_id: str, member: dict, address: str):
    connection = await backend_db(settings)
    try:
        await connection.execute("INSERT INTO wallet_links (tenant_id, address, user_id) "
                                 "VALUES ($1::uuid, $2, $3::uuid)",
                                 tenant_id, address.lower(), member["user_id"])
    finally:
        await connection.close()


class Tally:
    """Throughput bookkeeping shared by all clients."""

    def __init__(self):
        self.active = False
        self.remaining = 0
        self.first = None
        self.last = None
        self.done = asyncio.Event()

    def start(self, clients: int):
        self.active, self.remaining, self.first, self.last = True, clients, None, None
        self.done.clear()

    def received(self, client: "Client", now: float):
        if not self.active:
            return
        if self.first is None:
            self.first = now
        if len(client.minted) == client.expected:
            self.remaining -= 1
            self.last = now
            if self.remaining == 0:
                self.done.set()


class Client:
    def __init__(self, index: int, member: dict, socket, tally: Tally):
        self.index, self.member, self.socket, self.tally = index, member, socket, tally
        self.minted: list[tuple[str, str]] = []  # token.minted notifications: (txHash, notification id)
        self.orders: dict[str, tuple] = {}  # order.created notifications: receipt tx hash -> times, id
        self.expected = 0
        self.others = 0
        self.changed = asyncio.Event()
        self.closed: str | None = None
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        try:
            async for raw in self.socket:
                now = time.perf_counter()
                message = orjson.loads(raw)
                if message.get("type") != "notification":
                    continue
                kind = message["kind"]
                if kind == "token.minted":
                    self.minted.append((message["data"]["txHash"].lower(), message["id"]))
                    self.tally.received(self, now)
                elif kind == "order.created":  # arrival (perf counter, wall clock), when it was stored, its id
                    self.orders[message["data"]["receipt"]["tx_hash"].lower()] = (
                        now, time.time(), datetime.fromisoformat(message["created_at"]).timestamp(), message["id"])
                else:
                    self.others += 1
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = f"{self.socket.close_code} {self.socket.close_reason or ''}".strip()
            self.changed.set()

    async def wait_for(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            self.changed.clear()
            if condition():
                return
            if self.closed is not None:
                raise RuntimeError(f"client {self.index} closed ({self.closed}) while waiting for {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"client {self.index}: no {what} after {timeout} s")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass


def raise_fd_limit(needed: int) -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            log(f"warning: file descriptors limited to {target} (hard limit) for {needed} wanted")
    return {"soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "hard": hard}


async def connect_all(url: str, members: list[dict], tokens: list[str], tally: Tally,
                      compression: bool) -> list[Client]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(index: int) -> Client:
        async with gate:
            socket = await websockets.connect(
                url, additional_headers={"Authorization": f"Bearer {tokens[index]}"}, open_timeout=60,
                ping_interval=None, max_queue=None, compression="deflate" if compression else None)
            hello = orjson.loads(await asyncio.wait_for(socket.recv(), 60))
            if hello != {"type": "ready", "unread": 0}:
                raise RuntimeError(f"client {index}: expected ready with no backlog, got {hello}")
            return Client(index, members[index], socket, tally)

    return list(await asyncio.gather(*(one(i) for i in range(len(members)))))


# --- process accounting --------------------------------------------------------------------------------

def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_pids(root: int) -> list[int]:
    """`root` and its descendants (a stack service and its children, e.g. PostgreSQL's backends, which
    are in process groups of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children.get(pid, [])
    return pids


def socket_owner(local_port: int, candidates: dict[str, int]) -> str | None:
    """Which of `candidates` (name -> pid) has the TCP socket bound to `local_port` on this host."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                    inodes.add(fields[9])
        except OSError:
            pass
    for name, pid in candidates.items():
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    link = os.readlink(fd)
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return name
        except OSError:
            pass
    return None


async def relay_process(settings: Settings, processes: "Processes") -> str | None:
    """The process relaying the backend outbox (NotificationQueued -> Kafka): the holder of its advisory lock."""
    from backend.app.outbox_relay import RELAY_LOCK
    connection = await backend_db(settings)
    try:
        port = await connection.fetchval(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.objid = $1 AND l.database = (SELECT oid FROM pg_database WHERE datname = "
            "current_database())", RELAY_LOCK)
    finally:
        await connection.close()
    return socket_owner(port, processes.ours) if port else None


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of a process tree, with that of its exited and reaped children (PostgreSQL's backends
    come and go: their time moves into the postmaster's cutime/cstime)."""
    total = 0
    for pid in pids:
        if fields := _stat(pid):
            total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLK_TCK


def memory_mb(pids: list[int]) -> float:
    """Proportional set size (shared pages split among their sharers, so a server's processes add up
    truthfully), or the RSS where the kernel does not say."""
    total = 0
    for pid in pids:
        for path, field in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
            try:
                line = next(line for line in Path(path).read_text().splitlines() if line.startswith(field))
            except (OSError, StopIteration):
                continue
            total += int(line.split()[1])
            break
    return round(total / 1024, 1)


HOST = "host (all cores)"


def host_busy_seconds() -> float:
    """CPU time the whole host spent not idle (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


class Processes:
    """The processes whose CPU and memory the report shows: ours, and the stack's servers we use."""

    def __init__(self, stack_run_dir: Path):
        self.ours: dict[str, int] = {"bench clients": os.getpid()}
        self.stack_run_dir = stack_run_dir
        self.restarted: set[str] = set()  # stack servers restarted (by someone else) while we measured

    def roots(self) -> dict[str, int]:
        roots = dict(self.ours)
        for name in ("postgres", "redis", "kafka"):  # read each time: a restarted server has a new pid
            try:
                roots[f"{name} (stack)"] = int((self.stack_run_dir / f"{name}.pid").read_text().strip())
            except (OSError, ValueError):
                pass
        return roots

    def groups(self) -> dict[str, tuple[int, list[int]]]:
        return {name: (pid, tree_pids(pid) if name.endswith("(stack)") else [pid])
                for name, pid in self.roots().items()}

    def cpu(self) -> tuple[float, dict[str, tuple[int, float]]]:
        return time.perf_counter(), {**{name: (root, cpu_seconds(pids))
                                        for name, (root, pids) in self.groups().items()},
                                     HOST: (0, host_busy_seconds())}

    def busy(self, before, after) -> dict[str, float | None]:
        """Each process's CPU use between two `cpu()` readings, in % of one core (None: it restarted
        meanwhile); the whole host's; and what the rest of it used (the kernel, the stack's own API,
        indexer and worker, other sessions' tests)."""
        seconds = after[0] - before[0]
        used: dict[str, float | None] = {}
        for name, (root, spent) in after[1].items():
            if name not in before[1]:
                continue
            if before[1][name][0] != root:
                used[name] = None
                self.restarted.add(name)
            else:
                used[name] = round(100 * (spent - before[1][name][1]) / seconds, 1)
        host = used.pop(HOST)
        known = sum(v for v in used.values() if v is not None)
        return {**used, "everything else": None if None in used.values() else round(max(0.0, host - known), 1),
                HOST: host}

    def memory(self) -> dict[str, float]:
        return {name: memory_mb(pids) for name, (_, pids) in self.groups().items()}


# --- throughput ------------------------------------------------------------------------------------------

def kafka_tx(i: int) -> str:
    return f"0x{i + 1:064x}"  # the txHash of throughput event i: identifies it in its notification


def redis_tx(i: int) -> str:
    return f"0x{'e' * 8}{i + 1:056x}"


def assign(clients: list[Client], events: int, tx_of) -> dict[int, set[str]]:
    """Event i goes to client i mod n (round-robin); raises each client's `expected` (cumulative)."""
    expected: dict[int, set[str]] = {c.index: set() for c in clients}
    for i in range(events):
        client = clients[i % len(clients)]
        client.expected += 1
        expected[client.index].add(tx_of(i))
    return expected


def minted_records(settings: Settings, clients: list[Client], events: int) -> list[tuple[str, bytes, bytes]]:
    """TokenMinted CloudEvents as the indexer publishes them (keyed by the account), round-robin."""
    topic = settings.kafka_topic_prefix + ev.TOKEN_MINTED.topic
    now = datetime.now(UTC)
    records = []
    for i in range(events):
        address = clients[i % len(clients)].member["address"].lower()
        block_hash = "0x" + uuid.uuid4().hex * 2
        data = {"account": address, "amount": str((1 + i % 100) * FIT), "blockNumber": i + 1,
                "blockHash": block_hash, "txHash": kafka_tx(i), "logIndex": 0}
        body = ev.envelope(id=ev.event_id(31337, block_hash, 0, ev.TOKEN_MINTED), ce_type=ev.TOKEN_MINTED.ce_type,
                           chain_id=31337, subject=address, time=now, data=data)
        records.append((topic, address.encode(), body))
    return records


async def wait_delivered(clients: list[Client], tally: Tally, events: int, settings: Settings):
    timeout = max(120.0, events / 100)
    progress = asyncio.create_task(_progress(clients, tally, settings))
    try:
        await asyncio.wait_for(tally.done.wait(), timeout)
    except TimeoutError:
        closed = [c for c in clients if c.closed]
        raise RuntimeError(f"after {timeout:.0f} s only {len(clients) - tally.remaining:,}/{len(clients):,} "
                           f"clients had all their notifications ({len(closed)} connections closed"
                           f"{': e.g. ' + closed[0].closed if closed else ''})") from None
    finally:
        progress.cancel()
    tally.active = False


async def check_exactly_once(clients: list[Client], offsets: dict[int, int], expected: dict[int, set[str]]):
    """Fails loudly unless every client got each of its events once, and nothing else, since `offsets`."""
    await asyncio.sleep(2)  # anything duplicated or stray would have arrived by now
    problems = []
    for client in clients:
        got = client.minted[offsets[client.index]:]
        txs, ids = [tx for tx, _ in got], [nid for _, nid in got]
        want = expected[client.index]
        if len(txs) != len(want) or set(txs) != want or len(set(ids)) != len(ids):
            problems.append(f"client {client.index}: {len(txs)} notifications ({len(set(txs))} distinct events, "
                            f"{len(set(ids))} distinct ids, {len(set(txs) - want)} not its own) for {len(want)} events")
        if client.closed:
            problems.append(f"client {client.index}: connection closed ({client.closed})")
    if problems:
        raise RuntimeError("notifications were lost, duplicated or misrouted:\n  " + "\n  ".join(problems[:20]) +
                           (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""))


async def throughput(settings: Settings, clients: list[Client], tally: Tally, events: int,
                     processes: Processes) -> dict:
    """Kafka -> worker (notifications) -> inbox + outbox -> relay -> Kafka -> worker (deliveries) -> Redis ->
    API -> WebSocket, as fast as it goes."""
    offsets = {c.index: len(c.minted) for c in clients}
    expected = assign(clients, events, kafka_tx)
    records = minted_records(settings, clients, events)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5, max_batch_size=1024 * 1024,
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        tally.start(len(clients))
        cpu_before = processes.cpu()
        started, started_wall = time.perf_counter(), time.time()
        for at in range(0, len(records), PUBLISH_CHUNK):
            pending = [await producer.send(topic, body, key=key) for topic, key, body in records[at:at + PUBLISH_CHUNK]]
            await asyncio.gather(*pending)
        published = time.perf_counter()
        log(f"published {events:,} events in {published - started:.2f} s; waiting for the WebSocket clients")
        await wait_delivered(clients, tally, events, settings)
        cpu_after = processes.cpu()
        memory = processes.memory()
    finally:
        await producer.stop()
    await check_exactly_once(clients, offsets, expected)
    connection = await backend_db(settings)
    try:  # when the worker inserted the rows (clock_timestamp(), this host's clock): no polling load meanwhile
        first, last, stored = await connection.fetchrow(
            "SELECT extract(epoch FROM min(created_at))::float8, extract(epoch FROM max(created_at))::float8, count(*) "
            "FROM notifications WHERE kind = 'token.minted'")
        # when the deliveries group's transactions started (now(): a poll's events share it)
        first_dispatched, last_dispatched, dispatched = await connection.fetchrow(
            "SELECT extract(epoch FROM min(consumed_at))::float8, extract(epoch FROM max(consumed_at))::float8, "
            "count(*) FROM consumed_events WHERE consumer = $1", settings.deliveries_consumer_group)
    finally:
        await connection.close()
    if stored != events:
        raise RuntimeError(f"{stored:,} notifications stored for {events:,} events")
    if dispatched != events:
        raise RuntimeError(f"{dispatched:,} NotificationQueued dispatched for {events:,} notifications")

    delivered_s = tally.last - started
    first_stored_s, all_stored_s = first - started_wall, last - started_wall
    result = {
        "events": events, "clients": len(clients), "per_client": events // len(clients),
        "publish_s": round(published - started, 3),
        "publish_per_s": round(events / (published - started)),
        "first_stored_s": round(first_stored_s, 3),
        "all_stored_s": round(all_stored_s, 3),
        "stored_per_s": round(events / all_stored_s),
        "worker_rate_per_s": round(events / (all_stored_s - first_stored_s)),
        "first_dispatched_s": round(first_dispatched - started_wall, 3),
        "all_dispatched_s": round(last_dispatched - started_wall, 3),
        "dispatch_rate_per_s": round(events / max(0.001, last_dispatched - first_dispatched)),
        "first_delivered_s": round(tally.first - started, 3),
        "all_delivered_s": round(delivered_s, 3),
        "delivered_per_s": round(events / delivered_s),
        "delivery_after_store_s": round(delivered_s - all_stored_s, 3),
        "verified": "every client got each of its events exactly once (event txHash and notification id)",
        "cpu_percent": processes.busy(cpu_before, cpu_after),
        "memory_mb": memory,
    }
    log(f"Kafka -> WebSocket: {events:,} notifications to {len(clients):,} clients in {delivered_s:.2f} s = "
        f"{result['delivered_per_s']:,}/s delivered; the worker stored them at {result['worker_rate_per_s']:,}/s "
        f"(all stored after {all_stored_s:.2f} s); exactly once each")
    log("CPU meanwhile (% of one core): " + ", ".join(f"{k} {v}" for k, v in result["cpu_percent"].items()))
    return result


async def live_path(settings: Settings, clients: list[Client], tally: Tally, events: int, processes: Processes) -> dict:
    """Redis -> API -> WebSocket alone: notifications shaped as the worker pushes them (store.push_all, one per
    message), published straight onto the members' channels; what the API can deliver when the worker is
    not the limit."""
    offsets = {c.index: len(c.minted) for c in clients}
    expected = assign(clients, events, redis_tx)
    created = datetime.now(UTC).isoformat()
    messages = []
    for i in range(events):
        client = clients[i % len(clients)]
        address = client.member["address"].lower()
        # json, not orjson: amounts in wei exceed 64 bits
        draft = token_minted(ev.TokenMinted(account=address, amount=(1 + i % 100) * FIT, tx_hash=redis_tx(i),
                                            block_number=i + 1, block_hash="0x" + "00" * 32, log_index=0))
        notification = {"id": str(uuid.uuid4()), "kind": draft.kind, "title": draft.title, "body": draft.body,
                        "data": draft.data, "corrects": None, "created_at": created, "read": False,
                        "user_id": client.member["user_id"]}
        messages.append((PUSH_CHANNEL + client.member["user_id"], json.dumps([notification]).encode()))
    redis = Redis(host=settings.redis_host, port=settings.redis_port)
    try:
        tally.start(len(clients))
        cpu_before = processes.cpu()
        started = time.perf_counter()
        for at in range(0, len(messages), 1_000):
            async with redis.pipeline(transaction=False) as pipe:
                for channel, payload in messages[at:at + 1_000]:
                    pipe.publish(channel, payload)
                await pipe.execute()
        published = time.perf_counter()
        await wait_delivered(clients, tally, events, settings)
        cpu_after = processes.cpu()
    finally:
        await redis.aclose()
    await check_exactly_once(clients, offsets, expected)
    delivered_s = tally.last - started
    result = {"events": events, "publish_s": round(published - started, 3), "all_delivered_s": round(delivered_s, 3),
              "delivered_per_s": round(events / delivered_s), "cpu_percent": processes.busy(cpu_before, cpu_after)}
    log(f"Redis -> WebSocket only: {events:,} in {delivered_s:.2f} s = {result['delivered_per_s']:,}/s; "
        "exactly once each")
    log("CPU meanwhile (% of one core): " + ", ".join(f"{k} {v}" for k, v in result["cpu_percent"].items()))
    return result


async def _progress(clients: list[Client], tally: Tally, settings: Settings):
    connection = await backend_db(settings)
    try:
        while True:
            await asyncio.sleep(5)
            stored = await connection.fetchval("SELECT count(*) FROM notifications")
            log(f"  ... {stored:,} stored in all, clients done {len(clients) - tally.remaining:,}/{len(clients):,}")
    finally:
        await connection.close()


# --- end-to-end latency -----------------------------------------------------------------------------------

def indexer_env(settings: Settings, chain: ScenarioChain) -> dict:
    stack = IndexerSettings()
    indexer = stack.model_copy(update={
        "fitmint_rpc_url": chain.url, "manifest": chain.manifest_path, "indexer_database": settings.indexer_database,
        "kafka_topic_prefix": settings.kafka_topic_prefix, "indexer_metrics_port": 0,
        "postgres_password_file": settings.postgres_password_file})
    return settings_env(indexer)


async def watch_orders(settings: Settings, user_id: str) -> dict[str, float]:
    """When each event of an order reached Kafka (its CreateTime: when a relay produced it): tx hash ->
    its OrderCreated (the indexer's relay), and ("queued", notification id) -> the member `user_id`'s
    NotificationQueued (the API's outbox relay). Read by a consumer of the benchmark's own, in a
    background task that lives as long as the loop."""
    produced: dict = {}
    consumer = AIOKafkaConsumer(settings.kafka_topic_prefix + ev.ORDER_CREATED.topic,
                                settings.kafka_topic_prefix + ev.NOTIFICATION_QUEUED.topic,
                                bootstrap_servers=settings.bootstrap, isolation_level="read_committed",
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    key = user_id.encode()

    async def read():
        try:
            while True:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for record in records:
                        if tp.topic.endswith(ev.ORDER_CREATED.topic):
                            produced[orjson.loads(record.value)["data"]["txHash"].lower()] = record.timestamp / 1000
                        elif record.key == key:  # the buyer's: not the throughput run's 20,000
                            data = orjson.loads(record.value)["data"]
                            produced[("queued", data["notificationId"])] = record.timestamp / 1000
        finally:
            await consumer.stop()

    produced["_task"] = asyncio.create_task(read())  # cancelled by breakdown()
    return produced


async def breakdown(runs: list[tuple[str, float, float]], client: Client, produced: dict) -> dict[str, float]:
    """Median of each stage of the samples (wall clocks of this host: Python's, Kafka's CreateTime,
    PostgreSQL's clock_timestamp())."""
    task = produced.pop("_task")

    def seen(tx: str) -> bool:
        return tx in produced and ("queued", client.orders[tx][3]) in produced

    deadline = time.monotonic() + 10
    while not all(seen(tx) for tx, _, _ in runs) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rows = [(mined, produced[tx], client.orders[tx][2], produced[("queued", client.orders[tx][3])],
             client.orders[tx][1]) for tx, _, mined in runs if seen(tx)]
    if not rows:
        return {}

    def median(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 1)

    return {"mined_to_produced": median([p - m for m, p, _, _, _ in rows]),
            "produced_to_stored": median([s - p for _, p, s, _, _ in rows]),
            "stored_to_queued": median([q - s for _, _, s, q, _ in rows]),
            "queued_to_socket": median([a - q for _, _, _, q, a in rows])}


async def latency(settings: Settings, tenant_id: str, client: Client, samples: int, log_dir: Path,
                  processes: Processes) -> dict:
    chain_dir = Path(tempfile.mkdtemp(prefix="bench-chain-"))
    chain = indexer = None
    try:
        log("latency: starting a private Anvil and deploying the contracts")
        chain = await asyncio.to_thread(ScenarioChain, chain_dir / "state")
        processes.ours["anvil"] = chain.process.pid
        buyer = chain.accounts[1]
        await link_wallet(settings, tenant_id, client.member, buyer)
        indexer = Service("indexer", [sys.executable, "-m", "indexer", "run"], indexer_env(settings, chain),
                          log_dir / "indexer.log").start()
        processes.ours["indexer"] = indexer.process.pid
        receipt = await asyncio.to_thread(chain.claim, buyer, (samples + 10) * PRICE)
        claim_tx = receipt.transactionHash.to_0x_hex().lower()
        # The claim's TokenMinted reaching the buyer's socket: the indexer has caught up and the path is warm.
        await client.wait_for(lambda: any(tx == claim_tx for tx, _ in client.minted), 120, "notification of the claim")
        await asyncio.to_thread(chain.approve_market, buyer)
        listing = await asyncio.to_thread(chain.list_item, 1, PRICE, samples + 10)

        def purchase() -> tuple[str, float, float]:
            # Anvil mines on arrival: when eth_sendTransaction returns, the block with the order exists.
            tx_hash = chain.market.functions.purchase(listing, 1, PRICE).transact({"from": buyer})
            return tx_hash.to_0x_hex().lower(), time.perf_counter(), time.time()

        async def one() -> tuple[str, float, float]:
            tx, mined, mined_wall = await asyncio.to_thread(purchase)
            try:
                await client.wait_for(lambda: tx in client.orders, 30, f"order.created for {tx}")
            except TimeoutError:
                status = (await asyncio.to_thread(chain.w3.eth.get_transaction_receipt, tx)).status
                raise RuntimeError(f"no order.created notification for {tx} (transaction status {status}):\n"
                                   f"{indexer.log[-2000:]}") from None
            return tx, (client.orders[tx][0] - mined) * 1000, mined_wall

        produced = await watch_orders(settings, client.member["user_id"])
        for _ in range(3):  # warm-up: the first order's receipt, catalog lookup and queries
            await one()
        log(f"latency: {samples} purchases, one at a time")
        cpu_before = processes.cpu()
        runs = [await one() for _ in range(samples)]
        cpu_after = processes.cpu()
        memory = processes.memory()
        stages = await breakdown(runs, client, produced)
    finally:
        if indexer is not None:
            await asyncio.to_thread(indexer.stop)
            processes.ours.pop("indexer", None)
        if chain is not None:
            await asyncio.to_thread(chain.stop)
            processes.ours.pop("anvil", None)
        shutil.rmtree(chain_dir, ignore_errors=True)
    ordered = sorted(latency for _, latency, _ in runs)

    def quantile(q: float) -> float:  # nearest rank
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    result = {"samples": len(ordered), "p50_ms": round(quantile(0.5), 1), "p90_ms": round(quantile(0.9), 1),
              "p99_ms": round(quantile(0.99), 1), "max_ms": round(ordered[-1], 1), "min_ms": round(ordered[0], 1),
              "mean_ms": round(statistics.mean(ordered), 1),
              "indexer_poll_interval_s": IndexerSettings().poll_interval,
              "stages_p50_ms": stages, "cpu_percent": processes.busy(cpu_before, cpu_after), "memory_mb": memory}
    log(f"latency: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms over {len(ordered)} "
        f"orders; stage medians {stages}")
    return result


# --- the run ---------------------------------------------------------------------------------------------

async def run(args, settings: Settings, log_dir: Path, processes: Processes) -> dict:
    log(f"targets: databases {settings.backend_database}, {settings.indexer_database}; topics "
        f"{settings.kafka_topic_prefix}*; consumer groups {settings.notifications_consumer_group}, "
        f"{settings.deliveries_consumer_group}")
    await create_targets(settings)
    api = worker = None
    clients: list[Client] = []
    try:
        api, base = await asyncio.to_thread(start_api, settings, log_dir)
        processes.ours["api"] = api.process.pid
        worker = await asyncio.to_thread(start_worker, settings, log_dir, "--no-scheduler", "--no-senders")
        processes.ours["worker"] = worker.process.pid
        log(f"API on {base} (pid {api.process.pid}), worker pid {worker.process.pid}")

        started = time.perf_counter()
        tenant_id, members = await create_members(settings, args.clients)
        redis = Redis(host=settings.redis_host, port=settings.redis_port)
        service = TokenService(redis=redis, settings=settings)  # the API's signing keys: same state directory
        tokens = [service.access_token(Subject(m["address"], settings.chain_id, tenant_id, m["user_id"], "user"),
                                       uuid.uuid4().hex) for m in members]
        await redis.aclose()
        log(f"{len(members):,} members and access tokens in {time.perf_counter() - started:.1f} s")

        fds = raise_fd_limit(args.clients + 1_000)
        tally = Tally()
        started = time.perf_counter()
        clients = await connect_all(base.replace("http://", "ws://") + "/notifications/ws", members, tokens, tally,
                                    args.compression)
        connect_s = time.perf_counter() - started
        log(f"{len(clients):,} WebSocket clients connected and ready in {connect_s:.1f} s")
        await asyncio.sleep(1)
        results = {"connect": {"clients": len(clients), "seconds": round(connect_s, 2),
                               "per_s": round(len(clients) / connect_s), "fd_limit": fds},
                   "throughput": await throughput(settings, clients, tally, args.events, processes),
                   "relay_process": await relay_process(settings, processes),
                   "live_path": await live_path(settings, clients, tally, args.events, processes)}
        if args.latency_samples:
            results["latency"] = await latency(settings, tenant_id, clients[0], args.latency_samples, log_dir,
                                               processes)
        results["restarted"] = sorted(processes.restarted)
        return results
    except BaseException:
        for service in (api, worker):
            if service is not None:
                log(f"--- {service.name} log (tail) ---\n{service.log[-3000:]}")
        raise
    finally:
        if clients:
            for client in clients:
                client.task.cancel()
            await asyncio.wait([asyncio.create_task(c.socket.close()) for c in clients], timeout=20)
        for service in (worker, api):
            if service is not None:
                await asyncio.to_thread(service.stop)
        try:
            await drop_targets(settings)
            log("targets dropped")
        except Exception as exc:  # noqa: BLE001 - the measurements stand; say what is left behind
            log(f"warning: clean-up incomplete ({exc!r}): drop the databases {settings.backend_database} and "
                f"{settings.indexer_database}, the topics {settings.kafka_topic_prefix}* and the consumer groups "
                f"{settings.notifications_consumer_group}, {settings.deliveries_consumer_group} by hand")


def machine() -> dict:
    model = ""
    if Path("/proc/cpuinfo").exists():
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    import aiokafka
    import uvicorn
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model or platform.processor(),
            "python": platform.python_version(), "uvicorn": uvicorn.__version__, "websockets": websockets.__version__,
            "aiokafka": aiokafka.__version__,
            "uvloop": importlib.util.find_spec("uvloop") is not None}


def write_report(out: Path, args, settings: Settings, results: dict):
    out.mkdir(parents=True, exist_ok=True)
    meta = {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), **machine()}
    parameters = {"clients": args.clients, "events": args.events, "latency_samples": args.latency_samples,
                  "websocket_compression": "permessage-deflate" if args.compression else "none",
                  "notifications_batch_size": settings.notifications_batch_size, "kafka_partitions": 3,
                  "outbox_relay": results.get("relay_process")}
    previous = summary(out / "notifications.json")  # the report this one replaces, to compare with
    (out / "notifications.json").write_text(json.dumps({"meta": meta, "parameters": parameters, **results,
                                                        "previous": previous}, indent=2) + "\n")
    c, t, live, lat = results["connect"], results["throughput"], results["live_path"], results.get("latency")

    def cpu(table: dict) -> str:
        return ", ".join(f"{name} {'(restarted meanwhile)' if value is None else f'{value:g}%'}"
                         for name, value in table.items())

    lines = [
        "# Notifications benchmark",
        "",
        f"Generated {meta['generated_at']} by `make bench` (`python -m bench.notifications_bench`) on "
        f"{meta['nproc']} cores ({meta['cpu']}),",
        f"Python {meta['python']}, uvicorn {meta['uvicorn']} ({'uvloop' if meta['uvloop'] else 'asyncio loop'}), "
        f"websockets {meta['websockets']}, aiokafka {meta['aiokafka']}.",
        "",
        "Everything shares those cores: the stack's Kafka, PostgreSQL and Redis, one API process (uvicorn), one",
        "worker (`python -m backend.app.worker --no-scheduler --no-senders`: its `fitmint-notifications` and",
        "`fitmint-deliveries` consumer groups), the benchmark's WebSocket clients and Kafka producer (one Python",
        "process), and for the latency an Anvil and an indexer. The run has its own backend and indexer",
        "databases, Kafka topics (3 partitions each) and consumer groups, all removed at the end.",
        "",
        "The path of a notification: its chain event on Kafka -> the worker's `fitmint-notifications` group "
        "stores it with its NotificationQueued event (outbox) in one transaction -> the API's outbox relay "
        "(woken by the commit's NOTIFY) -> Kafka -> the worker's `fitmint-deliveries` group (its deliveries, "
        "none here, in one transaction) -> Redis (deduplicated by notification id) -> the API's hub -> the "
        "member's WebSocket.",
        "",
        f"Parameters: {args.clients:,} WebSocket clients, members of one tenant with `notification_channels: "
        f"[websocket]`; {args.events:,} events ({t['per_client']} per client); WebSocket compression "
        f"{parameters['websocket_compression']}; the worker's default batch of "
        f"{parameters['notifications_batch_size']} records per PostgreSQL transaction; the backend outbox relay "
        f"(each notification's NotificationQueued event -> Kafka) in the "
        f"{parameters['outbox_relay'] or 'unidentified'} process (the holder of its advisory lock), as with `make up`.",
        "",
        "## Throughput",
        "",
        f"{args.events:,} TokenMinted CloudEvents, shaped and keyed (by account) as the indexer publishes them, "
        "are produced to the token topic as fast as aiokafka allows, round-robin over the members. The clock "
        "runs from the first send to the last notification received by the last client. Afterwards every "
        "client is checked to have had each of its events exactly once (the event's txHash and the "
        "notification id) and no connection closed; the benchmark fails otherwise.",
        "",
        "| measure | result |",
        "|---|---:|",
        f"| **Kafka -> WebSocket: notifications delivered** | **{t['delivered_per_s']:,}/s** "
        f"({t['events']:,} in {t['all_delivered_s']} s) |",
        f"| worker, `fitmint-notifications`: notifications stored (first to last row) | {t['worker_rate_per_s']:,}/s |",
        f"| worker, `fitmint-deliveries`: NotificationQueued dispatched (first to last poll) | "
        f"{t['dispatch_rate_per_s']:,}/s |",
        f"| all stored / all dispatched / all delivered after | {t['all_stored_s']} s / {t['all_dispatched_s']} s / "
        f"{t['all_delivered_s']} s |",
        f"| first stored / first dispatched / first delivered after | {t['first_stored_s']} s / "
        f"{t['first_dispatched_s']} s / {t['first_delivered_s']} s |",
        f"| events produced to Kafka | {t['publish_per_s']:,}/s ({t['publish_s']} s) |",
        f"| Redis -> WebSocket alone: notifications delivered | {live['delivered_per_s']:,}/s "
        f"({live['events']:,} in {live['all_delivered_s']} s) |",
        f"| {c['clients']:,} clients connected and `ready` | {c['seconds']} s ({c['per_s']:,}/s) |",
        "",
        f"CPU during Kafka -> WebSocket (% of one core): {cpu(t['cpu_percent'])}.",
        "",
        f"CPU during Redis -> WebSocket alone: {cpu(live['cpu_percent'])}.",
        "",
        f"(% of one core: the host has {meta['nproc'] * 100}% in all. \"everything else\" is the rest of the host "
        "over the same window: the kernel, the stack's own API, indexer and worker, and anything else running, "
        "e.g. other test runs.)",
        "",
        f"Delivered end to end at {t['delivered_per_s'] / live['delivered_per_s']:.0%} of the rate the Redis -> "
        f"WebSocket side reaches alone; the last notification reached its client {t['delivery_after_store_s']} s "
        f"after the worker stored the last row, {round(t['all_delivered_s'] - t['all_dispatched_s'], 3)} s after "
        "its deliveries group began its last poll"
        + (": the worker (storing, then dispatching, in one process) sets the end-to-end rate."
           if t['delivered_per_s'] < 0.8 * live['delivered_per_s'] else "."),
        "",
        "\"Redis -> WebSocket alone\" publishes notifications shaped as the worker pushes them straight onto the "
        "members' Redis channels (no Kafka, no worker, no PostgreSQL): what the API's hub and WebSocket side "
        "deliver when the worker is not the limit. The end-to-end rate above is the worker's rate whenever it is "
        "well below this one.",
        "",
        f"Memory (PSS) after the throughput run: {', '.join(f'{k} {v:g} MB' for k, v in t['memory_mb'].items())}.",
        "",
    ]
    if lat:
        stages = lat.get("stages_p50_ms") or {}
        lines += [
            "## End-to-end latency: OrderCreated mined -> the buyer's WebSocket message",
            "",
            "A private Anvil with the contracts (`ape run deploy`), `python -m indexer run` on it (this run's "
            f"indexer database and topics), the buyer's wallet linked to one of the {args.clients:,} members (all "
            f"stay connected, idle), one primary listing; then {lat['samples']} purchases one at a time, after 3 "
            "warm-up ones. Each is timed from `purchase(...).transact()` returning (Anvil mines on arrival, so the "
            "block exists) to the buyer's client receiving the `order.created` notification whose "
            "`data.receipt.tx_hash` is that transaction.",
            "",
            "| measure | result |",
            "|---|---:|",
            f"| p50 | {lat['p50_ms']} ms |",
            f"| p90 | {lat['p90_ms']} ms |",
            f"| p99 | {lat['p99_ms']} ms{' (with 100 samples: the 2nd largest)' if lat['samples'] == 100 else ''} |",
            f"| max / min | {lat['max_ms']} / {lat['min_ms']} ms |",
            f"| mean | {lat['mean_ms']} ms |",
            "",
            "What it is made of (median of each stage, from this host's clocks: the transaction returning, the Kafka "
            "record's CreateTime, the notification row's `clock_timestamp()`, the client's receipt):",
            "",
            "| stage | what happens | p50 |",
            "|---|---|---:|",
            f"| mined -> on Kafka | the indexer polls the chain every {lat['indexer_poll_interval_s'] * 1000:g} ms, "
            "decodes the block and writes it with its outbox row in one PostgreSQL transaction; its relay, woken "
            "by that commit (or at its 50 ms idle poll), produces the event | "
            f"{stages.get('mined_to_produced', '-')} ms |",
            "| on Kafka -> notification row | the relay's Kafka transaction commits; the worker's read_committed "
            "`fitmint-notifications` consumer fetches it, stores the order receipt and inserts the notification "
            f"with its NotificationQueued outbox row | {stages.get('produced_to_stored', '-')} ms |",
            "| notification row -> NotificationQueued on Kafka | the worker commits; the outbox trigger's NOTIFY "
            "wakes the API's outbox relay (in the process holding its lock), which produces the event in a Kafka "
            f"transaction | {stages.get('stored_to_queued', '-')} ms |",
            "| NotificationQueued on Kafka -> WebSocket | that transaction commits; the worker's read_committed "
            "`fitmint-deliveries` consumer fetches it, records it (and the deliveries, none here) in one "
            "PostgreSQL transaction, publishes to Redis (deduplicated by notification id) before committing its "
            "offsets; the API's hub (one pattern subscription) queues it for the buyer's connection, which sends "
            f"the frame | {stages.get('queued_to_socket', '-')} ms |",
            "",
            f"CPU during the latency run (% of one core): {cpu(lat['cpu_percent'])}.",
            "",
        ]
    if previous:
        now = summary_of({"meta": meta, **results})
        labels = {"delivered_per_s": ("Kafka -> WebSocket: notifications delivered", "/s"),
                  "redis_delivered_per_s": ("Redis -> WebSocket alone", "/s"),
                  "latency_p50_ms": ("OrderCreated mined -> WebSocket, p50", " ms"),
                  "latency_p99_ms": ("OrderCreated mined -> WebSocket, p99", " ms")}
        lines += ["## Against the previous report", "",
                  f"The report this run replaced was generated {previous.get('generated_at', '?')}. The host "
                  "is shared and its load varies from run to run: \"Redis -> WebSocket alone\" (the API side "
                  "only, which the worker's changes do not touch) shows how much of a difference is the host's.",
                  "",
                  "| measure | previous | this run |", "|---|---:|---:|"]
        for key, (label, unit) in labels.items():
            if key in previous or key in now:
                lines.append(f"| {label} | {_number(previous.get(key), unit)} | {_number(now.get(key), unit)} |")
        stages = {**previous.get("stages_p50_ms", {}), **now.get("stages_p50_ms", {})}
        for stage in stages:
            lines.append(f"| stage p50: {stage.replace('_', ' ')} | "
                         f"{_number(previous.get('stages_p50_ms', {}).get(stage), ' ms')} | "
                         f"{_number(now.get('stages_p50_ms', {}).get(stage), ' ms')} |")
        lines.append("")
    if results.get("restarted"):
        lines += [f"Note: {', '.join(results['restarted'])} restarted during the run (by something else on this host)",
                  "and the numbers it affected are not representative.", ""]
    lines += ["No pass/fail targets are set for these numbers: issue #6 asks for them to be measured and stated."]
    (out / "notifications.md").write_text("\n".join(lines) + "\n")


def summary_of(report: dict) -> dict:
    """The headline numbers of a report (its JSON), to compare runs."""
    latency = report.get("latency") or {}
    return {"generated_at": report.get("meta", {}).get("generated_at"),
            "delivered_per_s": report.get("throughput", {}).get("delivered_per_s"),
            "redis_delivered_per_s": report.get("live_path", {}).get("delivered_per_s"),
            "latency_p50_ms": latency.get("p50_ms"), "latency_p99_ms": latency.get("p99_ms"),
            "stages_p50_ms": latency.get("stages_p50_ms", {})}


def summary(path: Path) -> dict | None:
    try:
        return summary_of(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _number(value, unit: str = "") -> str:
    if value is None:
        return "-"
    return (f"{value:,}" if isinstance(value, int) else f"{value:g}") + unit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--no-compression", dest="compression", action="store_false",
                        help="WebSocket clients without permessage-deflate (browsers negotiate it)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args()
    if args.clients < 1 or args.events < args.clients or args.latency_samples < 0:
        parser.error("need --clients >= 1, --events >= --clients and --latency-samples >= 0")

    base = Settings()
    state_dir = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
    settings = bench_settings(base, state_dir, uuid.uuid4().hex[:8])
    processes = Processes(base.fitmint_state_dir / "run")
    ok = False
    try:
        results = asyncio.run(run(args, settings, state_dir, processes))
        ok = True
    except (RuntimeError, OSError, TimeoutError, asyncpg.PostgresError) as error:
        print(f"notifications_bench: {error}", file=sys.stderr)
        print(f"notifications_bench: logs kept in {state_dir}", file=sys.stderr)
        return 1
    finally:
        if ok:
            shutil.rmtree(state_dir, ignore_errors=True)
    write_report(args.out, args, settings, results)
    log(f"report: {args.out / 'notifications.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
