"""Reading back what reached Kafka: every committed record of a topic, from the first offset to the end."""

import asyncio

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition


async def aevent_ids(bootstrap: str, topic: str, event_type: str | None = None, partitions: int = 3) -> list[str]:
    """The CloudEvents ids on `topic` (of `event_type` only, if given), in partition order, duplicates kept."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        ids = []
        while [tp for tp in assigned if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                envelopes = [orjson.loads(record.value) for record in records]
                ids += [e["id"] for e in envelopes if event_type is None or e["type"] == event_type]
        return ids
    finally:
        await consumer.stop()


def event_ids(bootstrap: str, topic: str, event_type: str | None = None) -> list[str]:
    return asyncio.run(aevent_ids(bootstrap, topic, event_type))
