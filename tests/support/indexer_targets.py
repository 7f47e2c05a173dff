"""What an indexer of a test or benchmark writes to, made and removed in one call each: its own database
on the stack's PostgreSQL and its own topics (the settings' Kafka topic prefix) on the stack's Kafka."""

from fitmint import events as ev
from indexer.settings import Settings
from scripts.stack.kafka_topics import delete_topics_with_prefix, ensure_topics
from tests.support.databases import create_databases, drop_databases


async def create_targets(settings: Settings, admin_dsn: dict):
    await create_databases([settings.indexer_database], **admin_dsn)
    await ensure_topics(settings.bootstrap, [settings.kafka_topic_prefix + t for t in ev.ALL_TOPICS], 3)


async def drop_targets(settings: Settings, admin_dsn: dict):
    await drop_databases([settings.indexer_database], **admin_dsn)
    await delete_topics_with_prefix(settings.bootstrap, settings.kafka_topic_prefix)
