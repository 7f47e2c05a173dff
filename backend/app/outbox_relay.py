"""Publishes the API's outbox to Kafka with the indexer's relay. Any number of API processes may run:
the one holding a PostgreSQL advisory lock relays, the others wait to take over. Any process may write
the outbox (API requests, the worker's consumers, the scheduled jobs): a trigger NOTIFYs OUTBOX_CHANNEL
when such a transaction commits (migration 0007), and the relay LISTENs, so an event leaves within
milliseconds of its commit rather than at the next poll (the polls stay, every IDLE_SLEEP, in case a
notification is lost with a connection)."""

import asyncio
import logging

import asyncpg

from backend.app.core.background import lead
from backend.app.core.config import Settings
from fitmint.outbox.relay import Relay

log = logging.getLogger("api.relay")
RELAY_LOCK = 0x666D7265  # pg_advisory_lock key: "the API's outbox relay"
OUTBOX_CHANNEL = "fitmint_outbox"  # what migration 0007's trigger notifies
IDLE_SLEEP = 0.1


async def run_relay(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event) -> None:
    async def relay() -> None:
        log.info("relaying the API's outbox to Kafka at %s", settings.bootstrap)
        await Relay(pool=pool, bootstrap=settings.bootstrap, chain_id=settings.chain_id, batch_size=500,
                    topic_prefix=settings.kafka_topic_prefix, producer="api",
                    listen=OUTBOX_CHANNEL).run(stop, idle_sleep=IDLE_SLEEP)

    await lead(pool, RELAY_LOCK, stop, relay, name="relay", retry_seconds=5)
