"""This API process's WebSocket connections, by member, fed by one Redis pattern subscription: the
worker publishes a member's new notifications on their channel after it has stored them."""

import asyncio
import logging
from collections import defaultdict

from backend.app.notifications import metrics
from backend.app.notifications.store import PUSH_CHANNEL
from fitmint.resilience import Retrier

log = logging.getLogger("api.hub")
QUEUE_LIMIT = 1_000  # a connection this far behind is closed; the client's reconnect reads the inbox


class Hub:
    def __init__(self, redis):
        self.redis = redis
        self._queues: dict[str, set[asyncio.Queue]] = defaultdict(set)
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        metrics.WEBSOCKET_CONNECTIONS.set_function(lambda: self.connections)  # counted when scraped
        self._task = asyncio.create_task(self._listen())
        try:  # serve at once even if Redis is slow: connections then get only their inbox until it is up
            await asyncio.wait_for(self._ready.wait(), 5)
        except TimeoutError:
            log.warning("live notifications: not subscribed to Redis yet")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def register(self, user_id: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(QUEUE_LIMIT)
        self._queues[user_id].add(queue)
        return queue

    def unregister(self, user_id: str, queue: asyncio.Queue) -> None:
        queues = self._queues.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[user_id]

    @property
    def connections(self) -> int:
        return sum(len(queues) for queues in self._queues.values())

    async def _listen(self) -> None:
        prefix = len(PUSH_CHANNEL)
        health = Retrier("api.live-notifications", ("redis",), log=log)
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(PUSH_CHANNEL + "*")
                health.progressed()
                self._ready.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message["type"] != "pmessage":
                        continue
                    for queue in tuple(self._queues.get(message["channel"][prefix:].decode(), ())):
                        try:
                            queue.put_nowait(message["data"])
                        except asyncio.QueueFull:
                            _overflow(queue)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis restarted: resubscribe; inboxes cover the gap
                await health.failed(exc)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001 - the connection is gone already: resubscribing replaces it
                    pass


def _overflow(queue: asyncio.Queue) -> None:
    """Marks a queue whose reader fell too far behind: its connection is closed (4408) and the client
    catches up from the inbox on reconnect."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)
