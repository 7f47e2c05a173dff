"""Reading back what reached Kafka (every committed record of a topic, from the first offset to the end),
and positions: where a topic ends now, and whether a consumer group has got there."""

import asyncio

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.waiting import wait_until


async def _stable_ends(bootstrap: str, consumer: AIOKafkaConsumer, partitions: list[TopicPartition],
                       settle: float) -> dict[TopicPartition, int]:
    """The last stable offsets of `partitions` once they have caught up with the high watermarks read now
    (or after `settle` seconds, for a transaction that really is still open). A producer's commit returns
    before the coordinator has written its markers into the partitions, so right after a relay committed,
    the last stable offset may still stand before that transaction's records."""
    uncommitted = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_uncommitted",
                                   enable_auto_commit=False)
    await uncommitted.start()
    try:
        high = await uncommitted.end_offsets(partitions)
    finally:
        await uncommitted.stop()
    deadline = asyncio.get_running_loop().time() + settle
    while True:
        stable = await consumer.end_offsets(partitions)
        if all(stable[tp] >= high[tp] for tp in partitions) or asyncio.get_running_loop().time() > deadline:
            return stable
        await asyncio.sleep(0.02)


async def aevent_ids(bootstrap: str, topic: str, event_type: str | None = None, partitions: int = 3,
                     settle: float = 10) -> list[str]:
    """The CloudEvents ids on `topic` (of `event_type` only, if given), in partition order, duplicates kept:
    every record committed before the call (see `_stable_ends`)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await _stable_ends(bootstrap, consumer, assigned, settle)
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


# --- positions: proving that nothing more arrives ----------------------------------------------------
# A consumer group commits a record's offset only after its effect (and any after-commit step) is done
# (fitmint.consumer). Once its committed offsets reach a topic's end as read at a known point, everything
# published before that point has had its effect: what did not show by then never will.

async def aend_offsets(bootstrap: str, topics) -> dict[TopicPartition, int]:
    """The end of each partition of `topics` now: the last stable offset (read_committed), so records of
    a transaction still open are not counted as published."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # metadata
        partitions = [TopicPartition(topic, p) for topic in topics for p in consumer.partitions_for_topic(topic) or ()]
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def acommitted(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The offsets consumer group `group` has committed (the next offset it reads, per partition)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()


def caught_up(committed: dict[TopicPartition, int], ends: dict[TopicPartition, int]) -> bool:
    return all(committed.get(tp, 0) >= end for tp, end in ends.items())


def wait_consumed(bootstrap: str, group: str, positions: dict[TopicPartition, int], timeout: float = 30) -> None:
    """Waits until `group` has committed every record before `positions` (partition -> offset)."""
    wait_until(lambda: caught_up(asyncio.run(acommitted(bootstrap, group)), positions), timeout, 0.1,
               f"{group} past {positions}")


def wait_drained(bootstrap: str, group: str, topics, timeout: float = 30) -> None:
    """Waits until `group` has consumed `topics` up to their end as it is now."""
    wait_consumed(bootstrap, group, asyncio.run(aend_offsets(bootstrap, topics)), timeout)
