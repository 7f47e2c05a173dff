"""The chain's head as the node announces it: `eth_subscribe("newHeads")` over WebSocket, kept open by a
task of its own. A follower waits on `next_head` instead of sleeping between polls, and gets the new
block's header with it (number, hash, parent hash, timestamp: what the indexer checks a range against).

The subscription is a shortcut, never the only way: while it is not open (the node has no WebSocket,
the connection dropped, it is being reopened with backoff), `live` is False and `next_head` returns
after the caller's poll interval, as a polling follower's sleep would."""

import asyncio
import logging

import orjson
import websockets
from websockets.exceptions import InvalidHandshake, InvalidURI

from fitmint.resilience import Backoff

log = logging.getLogger("fitmint.chain.heads")

NO_WEBSOCKET_RETRY = 60.0  # seconds: a node that refused the handshake is asked again this rarely
OPEN_TIMEOUT = 5.0


def websocket_url(rpc_url: str) -> str:
    """The WebSocket twin of an HTTP JSON-RPC URL: the same host and port (Anvil serves both there)."""
    scheme, _, rest = rpc_url.partition("://")
    return {"http": "ws", "https": "wss"}.get(scheme, scheme) + "://" + rest


def header_of(block: dict) -> dict:
    """A newHeads notification's (or eth_getBlockByNumber's) block as the fields a follower checks."""
    return {"number": int(block["number"], 16), "hash": block["hash"], "parent_hash": block["parentHash"],
            "timestamp": int(block["timestamp"], 16)}


class HeadSubscription:
    def __init__(self, url: str):
        self.url = url
        self.live = False  # subscribed now: announcements arrive as blocks are added
        self.latest: dict | None = None  # the last announced header
        self.announced = 0  # how many heads were announced: a follower compares it with what it has seen
        self._arrived = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._said_polling = False

    def start(self) -> "HeadSubscription":
        if self._task is None:
            self._task = asyncio.create_task(self._keep_subscribed(), name="newHeads subscription")
        return self

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.live = False

    async def next_head(self, seen: int, poll_interval: float, live_interval: float) -> None:
        """Returns once a head after the `seen`-th announcement arrives, or after `poll_interval` while
        not subscribed (`live_interval` while subscribed: a safety net for a rollback, which announces
        no new head, and for a subscription that went quiet without closing)."""
        if self.announced != seen:
            return
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), live_interval if self.live else poll_interval)
        except TimeoutError:
            pass

    async def _keep_subscribed(self) -> None:
        backoff = Backoff(first=0.1, cap=5.0)
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=OPEN_TIMEOUT, max_size=None,
                                              compression=None) as connection:
                    await self._subscribe(connection)
                    backoff.reset()
                    async for message in connection:
                        self._announced(orjson.loads(message))
                self._lost("the node closed the connection")
            except (InvalidHandshake, InvalidURI, _Refused) as exc:
                # An HTTP-only endpoint (or a node that does not offer newHeads): polling it is.
                self._lost(f"no newHeads subscription at {self.url} ({exc}); polling for new blocks", loud=True)
                await asyncio.sleep(NO_WEBSOCKET_RETRY)
            except Exception as exc:  # noqa: BLE001 - dropped, refused, or an answer not understood: poll meanwhile
                self._lost(f"newHeads subscription at {self.url} lost ({exc!r}); polling until it is back")
                await asyncio.sleep(backoff.next_delay())

    async def _subscribe(self, connection) -> None:
        await connection.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                            "params": ["newHeads"]}))
        answer = orjson.loads(await asyncio.wait_for(connection.recv(), OPEN_TIMEOUT))
        if "error" in answer or not answer.get("result"):
            raise _Refused(str(answer.get("error", answer)))
        self.live = True
        self.latest = None  # announced before a reconnection: blocks may have been added since
        self._said_polling = False
        log.info("following the head over a newHeads subscription at %s", self.url)
        self._wake()  # a block added while the subscription was being set up is looked for at once

    def _announced(self, message: dict) -> None:
        block = (message.get("params") or {}).get("result")
        if message.get("method") != "eth_subscription" or not isinstance(block, dict):
            return
        self.latest = header_of(block)
        self._wake()

    def _wake(self) -> None:
        self.announced += 1
        self._arrived.set()

    def _lost(self, why: str, loud: bool = False) -> None:
        was_live, self.live = self.live, False
        if was_live or not self._said_polling:
            (log.warning if loud or was_live else log.info)("%s", why)
            self._said_polling = True
        if was_live:
            self._wake()  # the follower polls from now on, starting with a look at the head


class _Refused(Exception):
    """The node answered eth_subscribe("newHeads") with an error."""
