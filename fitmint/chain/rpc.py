"""The one JSON-RPC client: a lean async client for the calls the indexer, the chain gateway
(fitmint.chain.gateway) and the transaction queue make; `batch` sends many calls in one HTTP request."""

import gc

import httpx
import msgspec
import orjson


class RpcError(Exception):
    def __init__(self, method: str, error: dict):
        self.code = error.get("code")
        self.message = str(error.get("message", error))
        self.data = error.get("data")  # e.g. a revert's encoded custom error
        super().__init__(f"{method}: {self.message} (code {self.code})")


class RangeTooLarge(RpcError):
    """The node refused the block range (too many results, response too large, timeout)."""

    def __init__(self, method: str, error: dict, timed_out: bool = False):
        super().__init__(method, error)
        self.timed_out = timed_out  # no answer in time: too large a range, or a node that hangs


class ResponseTooLarge(RangeTooLarge):
    """The node's answer to eth_getLogs is over the caller's byte cap: not read (or not read further)."""

    def __init__(self, limit: int, size: int | None):
        super().__init__("eth_getLogs", {"message": f"response of {size if size else 'more than ' + str(limit)} "
                                                    f"bytes, over the cap of {limit}"})
        self.limit = limit
        self.size = size  # the announced length (content-length), if the node gave one


_RANGE_HINTS = ("too many", "limit exceeded", "response size", "query returned more than", "block range")
_JSON = {"content-type": "application/json"}


def _raise(method: str, error: dict):
    message = str(error.get("message", "")).lower()
    kind = RangeTooLarge if method == "eth_getLogs" and any(h in message for h in _RANGE_HINTS) else RpcError
    raise kind(method, error)


def _result(method: str, content: bytes):
    payload = orjson.loads(content)
    if "error" in payload:
        _raise(method, payload["error"])
    return payload["result"]


class Log(msgspec.Struct, gc=False):
    """One eth_getLogs entry: the fields the indexer reads (the node's other fields are not kept).
    gc=False: it holds only strings and a list of them, so it can never be part of a reference cycle."""

    address: str
    topics: list[str]
    data: str
    blockNumber: str  # the node's field names
    blockHash: str
    transactionHash: str
    logIndex: str
    blockTimestamp: str | None = None  # not every node sends it


class _LogsAnswer(msgspec.Struct, gc=False):
    result: list[Log] | None = None
    error: dict | None = None


_LOGS_ANSWER = msgspec.json.Decoder(_LogsAnswer)


def _logs(content: bytes) -> list[Log]:
    """A backfill's answers hold up to ~10^5 logs: decoded straight into typed structs (no dict per log:
    a third of orjson's time) with the cyclic garbage collector paused, as the lists of topics would
    otherwise set off collections that walk everything decoded so far (nothing else runs meanwhile)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        answer = _LOGS_ANSWER.decode(content)
    finally:
        if was_enabled:
            gc.enable()
    if answer.error is not None:
        _raise("eth_getLogs", answer.error)
    return answer.result


class Rpc:
    """Transport failures (refused, reset, hanging past `timeout`, HTTP 5xx) raise httpx errors: the
    callers' resilience loop (fitmint.resilience) treats them as an outage of the node and retries."""

    def __init__(self, url: str, timeout: float = 10.0, max_connections: int = 8):
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=max_connections))
        self._id = 0

    async def close(self):
        await self._client.aclose()

    def _request(self, method: str, params) -> bytes:
        self._id += 1
        return orjson.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})

    async def call(self, method: str, *params):
        response = await self._client.post(self._url, content=self._request(method, params), headers=_JSON)
        response.raise_for_status()
        return _result(method, response.content)

    async def batch(self, calls: list[tuple]) -> list:
        """Many calls (`(method, *params)` each) as one JSON-RPC batch: one HTTP round trip, answered in
        order, each the call's result or its RpcError (returned, not raised: one refused call does not
        hide the others' answers). An empty list costs nothing."""
        if not calls:
            return []
        first = self._id + 1
        self._id += len(calls)
        body = orjson.dumps([{"jsonrpc": "2.0", "id": first + n, "method": method, "params": list(params)}
                             for n, (method, *params) in enumerate(calls)])
        response = await self._client.post(self._url, content=body, headers=_JSON)
        response.raise_for_status()
        answers = orjson.loads(response.content)
        if isinstance(answers, dict):  # the node refused the batch as a whole
            raise RpcError("batch", answers.get("error", answers))
        by_id = {answer.get("id"): answer for answer in answers}
        results = []
        for n, (method, *_) in enumerate(calls):
            answer = by_id.get(first + n, {"error": {"message": "no answer in the batch"}})
            results.append(RpcError(method, answer["error"]) if "error" in answer else answer["result"])
        return results

    async def block_number(self) -> int:
        return int(await self.call("eth_blockNumber"), 16)

    async def chain_id(self) -> int:
        return int(await self.call("eth_chainId"), 16)

    async def header(self, number: int) -> dict | None:
        block = await self.call("eth_getBlockByNumber", hex(number), False)
        if block is None:
            return None
        return {"number": number, "hash": block["hash"], "parent_hash": block["parentHash"],
                "timestamp": int(block["timestamp"], 16)}

    async def get_logs(self, addresses: list[str], from_block: int, to_block: int,
                       max_bytes: int | None = None) -> list[Log]:
        """The logs of the range; `max_bytes` caps the answer's size: a larger one raises ResponseTooLarge
        as soon as its length is announced or its bytes pass the cap (this process never holds more)."""
        body = self._request("eth_getLogs", [{"address": addresses, "fromBlock": hex(from_block),
                                              "toBlock": hex(to_block)}])
        try:
            async with self._client.stream("POST", self._url, content=body, headers=_JSON) as response:
                response.raise_for_status()
                length = response.headers.get("content-length")
                if max_bytes and length and int(length) > max_bytes:
                    raise ResponseTooLarge(max_bytes, int(length))
                chunks, received = [], 0
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if max_bytes and received > max_bytes:
                        raise ResponseTooLarge(max_bytes, None)
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise RangeTooLarge("eth_getLogs", {"message": f"timeout: {exc!r}"}, timed_out=True) from exc
        content = b"".join(chunks)
        del chunks
        return _logs(content)

    # --- calls and transactions (fitmint.chain.gateway) -------------------------------------------------
    async def eth_call(self, transaction: dict, block: str = "latest") -> str:
        return await self.call("eth_call", transaction, block)

    async def estimate_gas(self, transaction: dict) -> int:
        return int(await self.call("eth_estimateGas", transaction), 16)

    async def transaction_count(self, address: str, block: str = "pending") -> int:
        return int(await self.call("eth_getTransactionCount", address, block), 16)

    async def base_fee(self) -> int:
        """The latest block's base fee per gas (0 before London)."""
        block = await self.call("eth_getBlockByNumber", "latest", False)
        return int(block.get("baseFeePerGas") or "0x0", 16)

    async def max_priority_fee(self) -> int:
        return int(await self.call("eth_maxPriorityFeePerGas"), 16)

    async def send_raw_transaction(self, raw: str) -> str:
        return await self.call("eth_sendRawTransaction", raw)

    async def transaction(self, tx_hash: str) -> dict | None:
        return await self.call("eth_getTransactionByHash", tx_hash)

    async def receipt(self, tx_hash: str) -> dict | None:
        return await self.call("eth_getTransactionReceipt", tx_hash)
