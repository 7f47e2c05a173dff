"""The member journey as load: N simulated members, each an asyncio task, going through the whole journey
over HTTP against one or more API processes, until a stop event or a duration.

A member signs in (SIWE), records a workout, asks for its voucher, has it claimed by the relayer (gasless,
through the transaction queue) and waits for it to be mined, reads their balance, buys an item with a
signed intent and permit (relayed too) and reads their notifications; meanwhile a WebSocket of theirs
receives the live notifications, and reconnects (to another API) when its API goes away. A member retires
after `journeys_per_member` journeys (the anti-cheat allows 20 workouts a day) and a fresh wallet takes
their place, so sign-ins go on all along.

Members are spread round-robin over `bases`; a request whose API does not answer at all (connection
refused or reset: the process died) moves that member to the next API and is sent again there. What the
API answered is counted per endpoint (the route's template): status counts, latencies, and the body of
every 5xx (for the invariant that an error is a 503/504 with a reason). Rate limits are the API's
settings' business: the processes under load are configured for it (`load_settings`); nothing here
sleeps to stay under them."""

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import websockets
from eth_account import Account
from siwe import SiweMessage

from fitmint_client.models import Quote
from fitmint_client.relayer import signed_purchase
from tests.support.signin import sign

SETTLED = ("mined", "failed")
KEPT_ERROR_BODIES = 200
HISTOGRAM_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)  # upper bounds of the latency buckets


def load_settings() -> dict:
    """What the API and worker processes under load are configured with (environment variables): the
    production rate limits and sponsorship budgets are per IP and per day, and every simulated member
    here comes from 127.0.0.1 on one day."""
    return {"RATE_LIMIT_AUTH": "1000000", "RATE_LIMIT_ACCOUNT": "1000000", "RATE_LIMIT_QUOTE": "1000000",
            "RATE_LIMIT_PUBLIC": "1000000", "RATE_LIMIT_PUBLIC_WINDOW_SECONDS": "3600",
            "SPONSOR_MEMBER_DAILY_RELAYS": "1000000", "SPONSOR_TENANT_DAILY_RELAYS": "100000000"}


@dataclass
class JourneyConfig:
    bases: list[str]
    members: int = 10
    seconds: float = 60.0
    listing_id: int | None = None  # purchases need a primary listing with supply (None: no purchases)
    journeys_per_member: int = 15
    websockets: bool = True
    email_every: int = 5  # every n-th member also takes email notifications (0: none do)
    request_timeout: float = 30.0
    relay_timeout: float = 90.0
    relay_poll_seconds: float = 0.5
    progress_every: float = 30.0  # seconds between progress lines (0: none)


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def histogram(seconds: list[float]) -> dict[str, int]:
    """Latencies counted in buckets: "<=10" ... "<=10000", ">10000" (milliseconds)."""
    counts = Counter()
    for value in seconds:
        bound = next((b for b in HISTOGRAM_MS if value * 1000 <= b), None)
        counts[f"<={bound}" if bound else f">{HISTOGRAM_MS[-1]}"] += 1
    return {f"<={b}": counts[f"<={b}"] for b in HISTOGRAM_MS} | {f">{HISTOGRAM_MS[-1]}": counts[f">{HISTOGRAM_MS[-1]}"]}


@dataclass
class Stats:
    counts: Counter = field(default_factory=Counter)  # endpoint -> answers
    statuses: dict = field(default_factory=lambda: defaultdict(Counter))  # endpoint -> status -> n
    latencies: dict = field(default_factory=lambda: defaultdict(list))  # endpoint -> seconds
    error_bodies: list = field(default_factory=list)  # 5xx: {endpoint, status, body, at}
    client_errors: list = field(default_factory=list)  # the first 4xx answers: {endpoint, status, body, at}
    transport_errors: Counter = field(default_factory=Counter)  # endpoint -> no answer (API gone)
    transport_kinds: Counter = field(default_factory=Counter)  # exception class -> no answer
    journeys: Counter = field(default_factory=Counter)  # completed | abandoned
    relays: Counter = field(default_factory=Counter)  # claim/purchase -> mined | failed | timeout
    relay_failures: list = field(default_factory=list)
    members: list = field(default_factory=list)  # every wallet that signed in: (address, private key)
    started: float = field(default_factory=time.monotonic)

    def answered(self, endpoint: str, status: int, seconds: float, body: str) -> None:
        self.counts[endpoint] += 1
        self.statuses[endpoint][status] += 1
        self.latencies[endpoint].append(seconds)
        kept = {"endpoint": endpoint, "status": status, "body": body[:500],
                "at": round(time.monotonic() - self.started, 3)}
        if status >= 500 and len(self.error_bodies) < KEPT_ERROR_BODIES:
            self.error_bodies.append(kept)
        elif 400 <= status < 500 and len(self.client_errors) < KEPT_ERROR_BODIES // 10:
            self.client_errors.append(kept)

    def cut(self) -> dict:
        """The summary of what was measured since the start or the last cut, and a fresh start for the
        next phase (the members signed in so far stay listed)."""
        summary = self.summary(time.monotonic() - self.started)
        self.counts, self.statuses, self.latencies = Counter(), defaultdict(Counter), defaultdict(list)
        self.error_bodies, self.client_errors, self.transport_errors, self.journeys = [], [], Counter(), Counter()
        self.transport_kinds = Counter()
        self.relays, self.relay_failures, self.started = Counter(), [], time.monotonic()
        return summary

    def summary(self, elapsed: float) -> dict:
        endpoints = {}
        for endpoint in sorted(self.counts):
            latencies = self.latencies[endpoint]
            endpoints[endpoint] = {
                "requests": self.counts[endpoint], "per_s": round(self.counts[endpoint] / elapsed, 2),
                "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
                "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
                "statuses": {str(code): n for code, n in sorted(self.statuses[endpoint].items())},
                "histogram_ms": histogram(latencies),
                "no_answer": self.transport_errors.get(endpoint, 0)}
        total = sum(self.counts.values())
        return {"seconds": round(elapsed, 1), "requests": total, "per_s": round(total / elapsed, 1),
                "endpoints": endpoints, "journeys": dict(self.journeys), "relays": dict(self.relays),
                "relay_failures": self.relay_failures[:20], "members": len(self.members),
                "errors_5xx": self.error_bodies, "errors_4xx": self.client_errors,
                "no_answer": sum(self.transport_errors.values()), "no_answer_kinds": dict(self.transport_kinds)}


@dataclass
class SocketLog:
    """One member's WebSocket: every connection's received notification ids, and each reconnect's gap."""
    connections: list = field(default_factory=list)  # per connection: [notification ids in order]
    reconnect_gaps: list = field(default_factory=list)  # seconds between losing a socket and the next "ready"
    closes: Counter = field(default_factory=Counter)  # why a connection ended


class Unavailable(Exception):
    """No API answered the request at all (every base refused or reset the connection)."""


class Abandon(Exception):
    """The journey cannot go on (an error answer); the member starts the next one."""


class Api:
    """A member's HTTP side: their preferred API, and the others to move to when it does not answer."""

    def __init__(self, client: httpx.AsyncClient, bases: list[str], first: int, stats: Stats):
        self.client, self.bases, self.at, self.stats = client, bases, first % len(bases), stats
        self.headers: dict = {}

    @property
    def base(self) -> str:
        return self.bases[self.at]

    async def call(self, method: str, endpoint: str, path: str, *, ok=(200, 201, 202), **kwargs) -> httpx.Response:
        """The answer (counted under `endpoint`); Abandon when it is not one of `ok`."""
        for _ in range(2 * len(self.bases)):
            began = time.monotonic()
            try:
                response = await self.client.request(method, self.base + path, headers=self.headers, **kwargs)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                self.stats.transport_errors[endpoint] += 1
                self.stats.transport_kinds[type(exc).__name__] += 1
                self.at = (self.at + 1) % len(self.bases)
                await asyncio.sleep(0.05 if self.at else 0.5)  # a full round of dead APIs: let one come back
                last = exc
                continue
            self.stats.answered(endpoint, response.status_code, time.monotonic() - began, response.text)
            if response.status_code not in ok:
                raise Abandon(f"{endpoint}: {response.status_code} {response.text[:200]}")
            return response
        raise Unavailable(f"{endpoint}: no API answered ({last!r})")


class Member:
    def __init__(self, number: int, config: JourneyConfig, client: httpx.AsyncClient, stats: Stats,
                 sockets: list, chain: dict):
        self.number, self.config, self.stats, self.chain = number, config, stats, chain
        self.wallet = Account.create()
        self.api = Api(client, config.bases, number, stats)
        self.sockets = sockets
        self.signed_in = asyncio.Event()
        self.workouts = 0

    async def sign_in(self) -> None:
        siwe = self.chain["siwe"]
        nonce = (await self.api.call("POST", "POST /auth/nonce", "/auth/nonce")).json()["nonce"]
        message = SiweMessage(domain=siwe["domain"], address=self.wallet.address, statement="Sign in to fitmint",
                              uri=siwe["uri"], version="1", chain_id=self.chain["chain_id"], nonce=nonce,
                              issued_at=datetime.now(UTC).isoformat().replace("+00:00", "Z")).prepare_message()
        tokens = (await self.api.call("POST", "POST /auth/verify", "/auth/verify",
                                      json={"message": message, "signature": sign(message, self.wallet)})).json()
        self.api.headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        self.stats.members.append((self.wallet.address, self.wallet.key.hex()))
        if self.config.email_every and self.number % self.config.email_every == 0:
            await self.api.call("PUT", "PUT /users/me/preferences", "/users/me/preferences",
                                json={"notification_channels": ["websocket", "email"], "email": self.email})
        self.signed_in.set()

    @property
    def email(self) -> str:
        return f"member-{self.wallet.address.lower()}@load.example"

    def workout(self) -> dict:
        """A 2 km, 12-minute run, each of the member's in a half-hour slot of its own (no overlap)."""
        self.workouts += 1
        end = datetime.now(UTC) - timedelta(minutes=30 * self.workouts)
        return {"activity": "run", "started_at": (end - timedelta(minutes=12)).isoformat(),
                "ended_at": end.isoformat(), "distance_m": 2000.0, "steps": 1818, "calories": 120.0,
                "avg_heart_rate": 150, "max_heart_rate": 178}

    async def wait_relay(self, kind: str, relay_id: int) -> bool:
        deadline = time.monotonic() + self.config.relay_timeout
        while time.monotonic() < deadline:
            relay = (await self.api.call("GET", "GET /relay/{id}", f"/relay/{relay_id}")).json()
            if relay["state"] in SETTLED:
                self.stats.relays[f"{kind} {relay['state']}"] += 1
                if relay["state"] == "failed":
                    self.stats.relay_failures.append({"kind": kind, "reason": relay["reason"]})
                return relay["state"] == "mined"
            await asyncio.sleep(self.config.relay_poll_seconds)
        self.stats.relays[f"{kind} timeout"] += 1
        return False

    async def journey(self) -> None:
        address = self.wallet.address
        workout = (await self.api.call("POST", "POST /fitness/workouts", "/fitness/workouts",
                                       json=self.workout())).json()
        if workout["status"] != "accepted":
            raise Abandon(f"workout refused: {workout.get('rejections')}")
        voucher = (await self.api.call("POST", "POST /rewards/workouts/{id}/voucher",
                                       f"/rewards/workouts/{workout['id']}/voucher", json={"account": address})).json()
        relay = (await self.api.call("POST", "POST /rewards/vouchers/{claim_id}/relay",
                                     f"/rewards/vouchers/{voucher['claim_id']}/relay")).json()
        claimed = await self.wait_relay("claim", relay["id"])
        await self.api.call("GET", "GET /wallets/{address}/balance", f"/wallets/{address}/balance")
        if claimed and self.config.listing_id is not None:
            quote = (await self.api.call("POST", "POST /marketplace/listings/{id}/quote",
                                         f"/marketplace/listings/{self.config.listing_id}/quote",
                                         json={"buyer": address, "quantity": 1})).json()
            quote = Quote.model_validate(quote)
            if quote.sufficient_balance:
                body = signed_purchase(self.wallet, quote)
                relay = (await self.api.call("POST", "POST /relay/purchases", "/relay/purchases", json=body)).json()
                await self.wait_relay("purchase", relay["id"])
        await self.api.call("GET", "GET /notifications", "/notifications")

    async def run(self, stop: asyncio.Event) -> None:
        """Journeys until `stop` or this member's quota; errors end a journey, not the member."""
        while not stop.is_set() and not self.signed_in.is_set():
            try:
                await self.sign_in()
            except (Abandon, Unavailable):
                await asyncio.sleep(0.5)
        done = 0
        while not stop.is_set() and done < self.config.journeys_per_member:
            try:
                await self.journey()
                self.stats.journeys["completed"] += 1
            except (Abandon, Unavailable):
                self.stats.journeys["abandoned"] += 1
            done += 1

    async def listen(self, stop: asyncio.Event, log: SocketLog) -> None:
        """The member's live notifications, on their current API; a lost connection reconnects at once to
        the next API, and the time until its "ready" is recorded."""
        await self.signed_in.wait()
        lost_at = None
        while not stop.is_set():
            url = self.api.base.replace("http://", "ws://", 1) + "/notifications/ws"
            received: list = []
            try:
                async with websockets.connect(url, additional_headers=self.api.headers, open_timeout=5,
                                              close_timeout=1) as socket:
                    log.connections.append(received)
                    while not stop.is_set():
                        try:
                            message = orjson.loads(await asyncio.wait_for(socket.recv(), 0.5))
                        except TimeoutError:
                            continue
                        if message.get("type") == "ready" and lost_at is not None:
                            log.reconnect_gaps.append(round(time.monotonic() - lost_at, 3))
                            lost_at = None
                        elif message.get("type") == "notification":
                            received.append(message["id"])
                    log.closes["stopped"] += 1
                    return
            except websockets.ConnectionClosed as closed:
                log.closes[f"closed {closed.rcvd.code if closed.rcvd else 'abnormally'}"] += 1
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                log.closes[type(exc).__name__] += 1
            if lost_at is None:
                lost_at = time.monotonic()
            self.api.at = (self.api.at + 1) % len(self.api.bases)
            await asyncio.sleep(0.1)


@dataclass
class LoadResult:
    summary: dict
    sockets: list  # SocketLog per member that listened
    members: list  # (address, key hex) of every member that signed in

    def socket_summary(self) -> dict:
        gaps = [gap for log in self.sockets for gap in log.reconnect_gaps]
        closes = Counter()
        for log in self.sockets:
            closes.update(log.closes)
        duplicates = sum(len(ids) - len(set(ids)) for log in self.sockets for ids in log.connections)
        return {"sockets": len(self.sockets), "connections": sum(len(log.connections) for log in self.sockets),
                "notifications_received": sum(len(ids) for log in self.sockets for ids in log.connections),
                "duplicates_within_a_connection": duplicates, "reconnects": len(gaps),
                "reconnect_max_s": max(gaps) if gaps else None,
                "reconnect_p50_s": percentile(gaps, 0.5), "closes": dict(closes)}


async def run_load(config: JourneyConfig, stop: asyncio.Event | None = None, on_progress=None,
                   stats: Stats | None = None) -> LoadResult:
    """Runs the members until `stop` is set or `config.seconds` have passed; returns what was measured (since
    the last `stats.cut()`, if the caller cuts phases). `on_progress(stats, elapsed)` is called every
    `config.progress_every` seconds."""
    stop = stop or asyncio.Event()
    stats, sockets = stats or Stats(), []
    limits = httpx.Limits(max_connections=config.members * 2, max_keepalive_connections=config.members * 2)
    async with httpx.AsyncClient(timeout=config.request_timeout, limits=limits) as client:
        chain = (await client.get(config.bases[0] + "/chain")).json()
        numbers = itertools.count()

        async def member_slot() -> None:
            while not stop.is_set():
                member = Member(next(numbers), config, client, stats, sockets, chain)
                listener = None
                if config.websockets:
                    log = SocketLog()
                    sockets.append(log)
                    member_stop = asyncio.Event()
                    listener = asyncio.create_task(member.listen(member_stop, log))
                try:
                    await member.run(stop)
                finally:
                    if listener is not None:
                        member_stop.set()
                        await listener

        async def timer() -> None:
            began = time.monotonic()
            while not stop.is_set():
                remaining = max(0.0, config.seconds - (time.monotonic() - began))
                try:
                    await asyncio.wait_for(stop.wait(), min(config.progress_every or remaining, remaining))
                except TimeoutError:
                    pass
                elapsed = time.monotonic() - began
                if on_progress and not stop.is_set():
                    on_progress(stats, elapsed)
                if elapsed >= config.seconds:
                    stop.set()

        stats.started = time.monotonic()
        slots = [asyncio.create_task(member_slot()) for _ in range(config.members)]
        clock = asyncio.create_task(timer())
        await asyncio.gather(*slots)
        stop.set()
        await clock
    return LoadResult(stats.summary(time.monotonic() - stats.started), sockets, stats.members)
