"""Publishes the API's outbox to Kafka with the indexer's relay. Any number of API processes may run:
the one holding a PostgreSQL advisory lock relays, the others wait to take over."""

import asyncio
import logging

import asyncpg

from backend.app.core.config import Settings
from indexer.relay import Relay

log = logging.getLogger("api.relay")
RELAY_LOCK = 0x666D7265  # pg_advisory_lock key: "the API's outbox relay"


async def run_relay(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with pool.acquire() as lock_connection:
                if await lock_connection.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
                    try:
                        relay = Relay(pool=pool, bootstrap=settings.bootstrap, chain_id=settings.chain_id,
                                      batch_size=500, topic_prefix=settings.kafka_topic_prefix, producer="api")
                        log.info("relaying the API's outbox to Kafka at %s", settings.bootstrap)
                        await relay.run(stop, idle_sleep=0.1)
                    finally:
                        await lock_connection.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("relay: %r; retrying", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=5)
        except asyncio.TimeoutError:
            pass
