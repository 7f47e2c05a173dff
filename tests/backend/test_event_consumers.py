"""What the `fitmint-notifications` group does with events that are not what their type promises: a record
that is not a CloudEvent, or whose payload breaks its type's schema, is logged and skipped while the rest
of the poll is applied; a FitnessRewardIssued still in Kafka in its v1 shape (snake_case) notifies as the
current v2 does. Records go to the consumer in-process (tests/support/outboxfeed.Record)."""

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import msgspec
import orjson

from backend.app.core.db import create_pool, migrate
from backend.app.notifications.consumer import NotificationConsumer
from fitmint import events as ev
from tests.support.outboxfeed import Record
from tests.support.units import FIT

HASH = "0x" + "12" * 32


def _record(event_type_ce: str, topic: str, key: str, data, offset: int) -> tuple[str, Record]:
    event_id = str(uuid.uuid4())
    body = ev.envelope(id=event_id, ce_type=event_type_ce, chain_id=31337, subject=key, time=datetime.now(UTC),
                       data=data)
    return event_id, Record(topic, 0, offset, key.encode(), body)


def test_malformed_events_are_skipped_and_a_v1_reward_issued_still_notifies(settings, caplog):
    migrate(settings)
    account = "0x" + uuid.uuid4().hex[:8] * 5
    minted = ev.TokenMinted(account=account, amount=str(5 * FIT), block_number=7, block_hash=HASH, tx_hash=HASH,
                            log_index=0)
    broken = msgspec.to_builtins(minted) | {"amount": 5 * FIT}  # a number: the schema says a decimal string

    async def scenario():
        pool = await create_pool(settings, settings.backend_database, min_size=1, max_size=2)
        try:
            tenant = await pool.fetchval("INSERT INTO tenants (slug, name) VALUES ('events', 'Events') RETURNING id")
            user = await pool.fetchval("INSERT INTO users (tenant_id, preferences) VALUES ($1, $2::jsonb) RETURNING id",
                                       tenant, orjson.dumps({"notification_channels": ["websocket"]}).decode())
            await pool.execute("INSERT INTO wallet_links (tenant_id, address, user_id) VALUES ($1, $2, $3)",
                               tenant, account, user)
            v1 = {"claim_id": HASH, "account": account, "amount": str(3 * FIT), "day": 20000, "deadline": 1_700_000_000,
                  "workout_id": str(uuid.uuid4()), "user_id": str(user), "tenant_id": str(tenant),
                  "contract": "0x" + "cd" * 20, "chain_id": 31337}
            broken_id, broken_record = _record(ev.TOKEN_MINTED.ce_type, ev.TOKEN_MINTED.topic, account, broken, 0)
            good_id, good_record = _record(ev.TOKEN_MINTED.ce_type, ev.TOKEN_MINTED.topic, account, minted, 1)
            v1_id, v1_record = _record("dev.fitmint.reward.issued.v1", ev.REWARD_ISSUED.topic, account, v1, 0)
            garbage = Record(ev.TOKEN_MINTED.topic, 0, 2, account.encode(), b"not json")
            with caplog.at_level(logging.ERROR, logger="worker.consumer"):
                await NotificationConsumer(pool, settings).apply([broken_record, good_record, garbage, v1_record])
            rows = await pool.fetch("SELECT source_event::text, kind, data::text FROM notifications "
                                    "ORDER BY created_at")
            return broken_id, good_id, v1_id, v1, rows
        finally:
            await pool.close()

    broken_id, good_id, v1_id, v1, rows = asyncio.run(scenario())
    assert [(r["source_event"], r["kind"]) for r in rows] == [(good_id, "token.minted"), (v1_id, "reward.issued")]
    assert orjson.loads(rows[1]["data"]) == {"claimId": HASH, "amount": v1["amount"], "account": v1["account"],
                                             "workoutId": v1["workout_id"], "deadline": v1["deadline"]}
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"event {broken_id} (dev.fitmint.token.minted.v1) is malformed, skipped" in e for e in errors), errors
    assert any("not a CloudEvent: fitmint.token[0]@2" in e for e in errors), errors
