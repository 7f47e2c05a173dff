"""Consumer lag of a Kafka consumer group member, per assigned partition, as a Prometheus gauge:
`fitmint_consumer_lag_records{group, topic, partition}`, the records on the partition that this member
has not consumed yet.

The end of a partition is its last stable offset when reading committed records (what a read_committed
consumer can reach: an open transaction's records are not lag yet), else the high watermark; both come
with every fetch response, so reading them costs nothing. A transaction's commit marker takes an offset
of its own after the last record: the consumer's position moves past it when aiokafka reads the marker's
batch (its next fetch), so a caught-up, idle consumer shows 0 (tests/observability/test_consumer_lag.py).

A partition that leaves this member (a rebalance) loses its series here: the member that takes it over
reports it, and the two never add up twice."""

from aiokafka.errors import IllegalStateError
from prometheus_client import Gauge

LAG = Gauge("fitmint_consumer_lag_records", "Records of an assigned partition not consumed yet by this group member",
            ["group", "topic", "partition"])


def lag(end: int | None, position: int) -> int | None:
    """Records between the position and the partition's end (None: the end is not known yet)."""
    if end is None or end < 0:
        return None
    return max(0, end - position)


def partition_end(consumer, tp, read_committed: bool) -> int | None:
    """The last stable offset (read_committed) or the high watermark of the last fetch; None before one."""
    if read_committed:
        stable = consumer.last_stable_offset(tp)
        if stable is not None and stable >= 0:
            return stable
    return consumer.highwater(tp)


class ConsumerLag:
    """The gauge of one consumer group member: `await update(consumer)` after each poll."""

    def __init__(self, group: str, *, read_committed: bool = True):
        self.group = group
        self.read_committed = read_committed
        self._reported: set[tuple[str, int]] = set()

    async def update(self, consumer) -> None:
        seen = set()
        for tp in consumer.assignment():
            key = (tp.topic, tp.partition)
            end = partition_end(consumer, tp, self.read_committed)
            if end is None:  # not fetched yet (its position may not be known either): the last value stands
                if key in self._reported:
                    seen.add(key)
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile (a rebalance)
                continue
            LAG.labels(self.group, tp.topic, str(tp.partition)).set(lag(end, position))
            seen.add(key)
        for topic, partition in self._reported - seen:
            LAG.remove(self.group, topic, str(partition))
        self._reported = seen
