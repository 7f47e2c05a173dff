"""What must hold after a load run, however the processes under it were disturbed (killed, cut off, slowed):

- kafka: every event of each outbox (the indexer's chain events, the API's events) is on its topic exactly
  once (compared by event id), and nothing else is; every consumer group has consumed its topics to the end
  (nothing left behind, so nothing lost between Kafka and its effect);
- notifications: none sent twice: no two emails with one Message-ID in the mail sink, no notification
  pushed twice on one WebSocket connection, no delivery claimed by two senders (the deliveries table);
- balances: each member's FIT balance is the same on the chain (balanceOf), in the indexer's projection and
  in the API's answer, once the indexer has reached the chain's head;
- errors: every error answer of the API under load was a 503 or 504 saying why, never a 500 (or any other 5xx).

`check_all` returns an `Outcome` per invariant (ok, and the details a report prints); `Verdicts.ok` is
whether all held. Each check waits (bounded) for the system to settle first: relays to publish, groups to
consume, the indexer to catch up; a check that times out fails with what it last saw."""

import asyncio
import mailbox
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
import httpx

from tests.support.kafka import acommitted, aend_offsets, aevent_ids

ALLOWED_ERRORS = (503, 504)


@dataclass
class Outcome:
    name: str
    ok: bool
    details: dict = field(default_factory=dict)


@dataclass
class Verdicts:
    outcomes: list[Outcome]

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "invariants": [asdict(outcome) for outcome in self.outcomes]}

    def failures(self) -> str:
        return "\n".join(f"{o.name}: {o.details}" for o in self.outcomes if not o.ok)


@dataclass(frozen=True)
class Target:
    """Where the system under test keeps things: PostgreSQL as its owner (asyncpg.connect's keywords), the
    databases, Kafka, the chain, an API base URL, the mail sink's Maildir."""
    postgres: dict
    backend_database: str
    indexer_database: str
    bootstrap: str
    topic_prefix: str
    groups: dict[str, list[str]]  # consumer group -> the topics it consumes (worker_groups)
    rpc_url: str
    token: str  # FitToken's address
    api: str
    maildir: Path | None = None


async def _fetch(target: Target, database: str, query: str, *args) -> list:
    connection = await asyncpg.connect(**target.postgres, database=database)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


# --- Kafka ----------------------------------------------------------------------------------------

async def _outbox(target: Target) -> dict[str, dict[str, str]]:
    """topic -> {event id -> which outbox} over both outboxes."""
    topics: dict[str, dict[str, str]] = {}
    for label, database in (("indexer", target.indexer_database), ("api", target.backend_database)):
        for row in await _fetch(target, database, "SELECT id::text AS id, aggregatetype FROM outbox"):
            topics.setdefault(target.topic_prefix + row["aggregatetype"], {})[row["id"]] = label
    return topics


async def _kafka_once(target: Target) -> Outcome:
    outbox = await _outbox(target)
    missing, duplicated, unknown, published = {}, {}, {}, 0
    for topic, ids in sorted(outbox.items()):
        on_topic = Counter(await aevent_ids(target.bootstrap, topic))
        published += sum(on_topic.values())
        if lost := sorted(set(ids) - set(on_topic)):
            missing[topic] = {"count": len(lost), "first": lost[:5]}
        if twice := sorted(event for event, n in on_topic.items() if n > 1):
            duplicated[topic] = {"count": len(twice), "first": twice[:5]}
        if strangers := sorted(set(on_topic) - set(ids)):
            unknown[topic] = {"count": len(strangers), "first": strangers[:5]}
    events = sum(len(ids) for ids in outbox.values())
    return Outcome("kafka: each outbox event on its topic exactly once",
                   not (missing or duplicated or unknown),
                   {"outbox_events": events, "records": published, "topics": len(outbox), "missing": missing,
                    "duplicated": duplicated, "not_in_an_outbox": unknown})


def worker_groups(notifications: str = "fitmint-notifications", deliveries: str = "fitmint-deliveries",
                  email: str = "fitmint-email", prefix: str = "") -> dict[str, list[str]]:
    """The worker's consumer groups and the topics each consumes (as the consumers themselves name them)."""
    from backend.app.notifications import events as notes
    from fitmint import events as ev

    return {notifications: [prefix + topic for topic in notes.TOPICS],
            deliveries: [prefix + ev.NOTIFICATION_QUEUED.topic], email: [prefix + ev.EMAIL_BATCH_READY.topic]}


async def _behind(bootstrap: str, groups: dict[str, list[str]]) -> dict[str, dict]:
    """Per group: each partition of its topics holding records the group has not committed yet, and how many."""
    behind = {}
    for group, topics in groups.items():
        ends = await aend_offsets(bootstrap, topics)
        committed = await acommitted(bootstrap, group)
        behind[group] = {tp: end - committed.get(tp, 0) for tp, end in ends.items() if committed.get(tp, 0) < end}
    return behind


async def consumer_lag(bootstrap: str, groups: dict[str, list[str]]) -> dict[str, int]:
    """Per group: the records of its topics it has not committed yet (end offset - committed offset)."""
    return {group: sum(partitions.values()) for group, partitions in (await _behind(bootstrap, groups)).items()}


async def _groups_drained(target: Target) -> Outcome:
    behind = {group: {f"{tp.topic}-{tp.partition}": count for tp, count in partitions.items()}
              for group, partitions in (await _behind(target.bootstrap, target.groups)).items() if partitions}
    return Outcome("kafka: every consumer group consumed its topics to the end", not behind, {"behind": behind})


# --- notifications --------------------------------------------------------------------------------

def _mail_duplicates(maildir: Path | None) -> tuple[int, dict]:
    if maildir is None or not maildir.exists():
        return 0, {}
    ids = Counter(message["Message-ID"] for message in mailbox.Maildir(maildir, create=False))
    return sum(ids.values()), {mid: n for mid, n in ids.items() if n > 1}


async def _notifications_once(target: Target, socket_connections: list[list[str]]) -> Outcome:
    emails, mail_twice = _mail_duplicates(target.maildir)
    pushed_twice = sum(len(ids) - len(set(ids)) for ids in socket_connections)
    rows = await _fetch(target, target.backend_database,
                        "SELECT (SELECT count(*) FROM notifications) AS notifications, "
                        "(SELECT count(*) FROM deliveries WHERE status = 'sent') AS sent, "
                        "(SELECT count(*) FROM deliveries WHERE status = 'sending') AS claimed_unconfirmed, "
                        "(SELECT count(*) FROM deliveries WHERE status = 'pending') AS unsent, "
                        "(SELECT count(*) FROM deliveries WHERE status = 'failed') AS failed, "
                        "(SELECT coalesce(sum(attempts), 0) FROM deliveries WHERE channel = 'email') AS email_claims")
    counts = {key: int(value) for key, value in rows[0].items()}
    # A sender claims a delivery (attempts + 1) before each SMTP attempt, and never sends unclaimed: the sink can
    # hold no more emails than there were claims. A claim whose outcome could not be recorded (PostgreSQL cut
    # right after the send) stays 'sending' and is never sent again, so the sink may hold more than 'sent'.
    # Twice is a Message-ID twice (one notification's id).
    sent_once = not mail_twice and pushed_twice == 0 and (target.maildir is None or emails <= counts["email_claims"])
    return Outcome("notifications: none sent twice", sent_once,
                   {**counts, "emails_in_sink": emails, "emails_twice": dict(list(mail_twice.items())[:5]),
                    "websocket_pushes": sum(len(ids) for ids in socket_connections),
                    "pushed_twice_on_one_connection": pushed_twice})


# --- balances -------------------------------------------------------------------------------------

async def _rpc(client: httpx.AsyncClient, url: str, method: str, *params):
    answer = (await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                           "params": list(params)})).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


async def _balances(target: Target, addresses: list[str], timeout: float) -> Outcome:
    async with httpx.AsyncClient(timeout=30) as client:
        head = int(await _rpc(client, target.rpc_url, "eth_blockNumber"), 16)
        deadline = time.monotonic() + timeout
        cursor = None
        while time.monotonic() < deadline:
            rows = await _fetch(target, target.indexer_database, "SELECT block_number AS cursor FROM indexer_cursor")
            cursor = rows[0]["cursor"]
            if cursor is not None and cursor >= head:
                break
            await asyncio.sleep(0.2)
        chain, api, mismatched = {}, {}, {}
        for address in addresses:
            data = "0x70a08231" + address.lower().removeprefix("0x").rjust(64, "0")  # balanceOf(address)
            chain[address] = int(await _rpc(client, target.rpc_url, "eth_call", {"to": target.token, "data": data},
                                            hex(head)), 16)
            answer = await client.get(f"{target.api}/wallets/{address}/balance")
            api[address] = int(answer.json()["balance"]) if answer.status_code == 200 else answer.status_code
        indexed = {row["account"]: int(row["balance"]) for row in await _fetch(
            target, target.indexer_database, "SELECT account, balance FROM token_balances WHERE account = ANY($1)",
            [a.lower() for a in addresses])}
        for address in addresses:
            seen = {"chain": chain[address], "indexer": indexed.get(address.lower(), 0), "api": api[address]}
            if len(set(seen.values())) > 1:
                mismatched[address] = seen
    return Outcome("balances: the API and the indexer equal the chain", not mismatched and cursor is not None
                   and cursor >= head, {"members": len(addresses), "head": head, "indexer_block": cursor,
                                        "total_fit_wei": str(sum(chain.values())),
                                        "mismatched": dict(list(mismatched.items())[:10])})


# --- API errors -----------------------------------------------------------------------------------

def api_errors(*summaries: dict) -> Outcome:
    """From journeyload summaries (a run's phases): every 5xx a 503/504 whose body says why (a `detail`)."""
    wrong_status: dict[str, Counter] = {}
    errors, bodies = 0, []
    for summary in summaries:
        for endpoint, stats in summary["endpoints"].items():
            for code, n in stats["statuses"].items():
                if int(code) >= 500:
                    errors += n
                    if int(code) not in ALLOWED_ERRORS:
                        wrong_status.setdefault(endpoint, Counter())[code] += n
        bodies += summary["errors_5xx"]
    unexplained = [error for error in bodies if error["status"] in ALLOWED_ERRORS
                   and '"detail":' not in error["body"].replace(" ", "")]
    return Outcome("errors: every API error a 503/504 with a reason", not wrong_status and not unexplained,
                   {"errors_5xx": errors, "not_503_or_504": {e: dict(c) for e, c in wrong_status.items()},
                    "without_a_reason": unexplained[:5], "examples": bodies[:5]})


async def acheck_all(target: Target, summaries: list[dict], addresses: list[str],
                     socket_connections: list[list[str]], *, settle_seconds: float = 120) -> Verdicts:
    """Every invariant, each after waiting (at most `settle_seconds`) for relays and consumers to settle.
    `summaries`: the load's (journeyload) summaries, one per phase; `addresses`: the members' wallets;
    `socket_connections`: the notification ids each WebSocket connection received."""
    deadline = time.monotonic() + settle_seconds

    async def settled(check) -> Outcome:
        while True:
            outcome = await check()
            if outcome.ok or time.monotonic() > deadline:
                return outcome
            await asyncio.sleep(1)

    return Verdicts([
        await settled(lambda: _kafka_once(target)),
        await settled(lambda: _groups_drained(target)),
        await settled(lambda: _notifications_once(target, socket_connections)),
        await _balances(target, addresses, max(5.0, deadline - time.monotonic())),
        api_errors(*summaries),
    ])


def check_all(*args, **kwargs) -> Verdicts:
    return asyncio.run(acheck_all(*args, **kwargs))
