"""Creates the project's Kafka topics if missing (stack.sh runs it once the broker is up).

    python scripts/stack/kafka_topics.py --bootstrap 127.0.0.1:59092 --partitions 3 TOPIC...

Tests and benchmarks use the same functions for their own prefixed topics (and remove them after).
"""

import argparse
import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

TOPIC_ALREADY_EXISTS = 36  # Kafka's error code: another process created it first


async def ensure_topics(bootstrap: str, topics: list[str], partitions: int) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in topics if topic not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(name=topic, num_partitions=partitions, replication_factor=1) for topic in missing]
            )
            # The admin client does not raise for a topic the broker refused: say which and why.
            refused = [f"{topic}: {message or f'error {code}'}" for topic, code, message in response.topic_errors
                       if code not in (0, TOPIC_ALREADY_EXISTS)]
            if refused:
                raise RuntimeError("Kafka refused to create " + "; ".join(refused))
        return missing
    finally:
        await admin.close()


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    """Deletes every topic whose name starts with `prefix` (a test's or benchmark's own topics)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        doomed = [topic for topic in await admin.list_topics() if topic.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("topics", nargs="+")
    args = parser.parse_args()
    if args.partitions < 1:
        parser.error("--partitions must be at least 1")
    try:
        created = asyncio.run(asyncio.wait_for(ensure_topics(args.bootstrap, args.topics, args.partitions), 60))
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator
        print(f"kafka: creating topics failed: {exc!r}", file=sys.stderr)
        return 1
    for topic in created:
        print(f"kafka: created topic {topic} ({args.partitions} partitions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
