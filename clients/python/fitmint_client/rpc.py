"""JSON-RPC to the chain's node (the rpc_url GET /chain names, or the caller's own): calls, gas estimates,
raw transactions and receipts. A node's refusal is NodeError with the revert data when it gave any."""

import itertools
import re
import time
from collections.abc import Callable

import httpx

from fitmint_client.errors import FitmintChainError, FitmintTimeout

_HEX_DATA = re.compile(r"0x[0-9a-fA-F]*")


class NodeError(Exception):
    """The node answered a JSON-RPC error; `data` is the revert data (bytes) when it is a revert."""

    def __init__(self, method: str, code, message: str, data: bytes | None):
        self.method, self.code, self.message, self.data = method, code, message, data
        super().__init__(f"{method}: {message}")


class Rpc:
    def __init__(self, url: str | Callable[[], str], client: httpx.Client | None = None, timeout: float = 30):
        """`url`: the node's URL, or a function giving it when first needed (GET /chain's rpc_url)."""
        self._url = url
        self.client = client or httpx.Client(timeout=timeout)
        self._own_client = client is None
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        if callable(self._url):
            self._url = self._url()
        return self._url

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __call__(self, method: str, *params):
        try:
            response = self.client.post(self.url, json={"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                                                        "params": list(params)})
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise FitmintChainError(f"the chain's node at {self.url} did not answer {method}: {exc}") from exc
        if "error" in answer:
            error = answer["error"]
            raise NodeError(method, error.get("code"), str(error.get("message", error)), _revert_data(error))
        return answer["result"]

    def wait_for_receipt(self, tx_hash: str, timeout: float = 60, interval: float = 0.2) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            receipt = self("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise FitmintTimeout(f"transaction {tx_hash} was not mined within {timeout:g} s")
            time.sleep(interval)


def _revert_data(error: dict) -> bytes | None:
    """Revert data where nodes put it: `data` as hex (Anvil, geth), or nested as data.data / data.result."""
    data = error.get("data")
    if isinstance(data, dict):
        data = data.get("data") or data.get("result")
    if isinstance(data, str) and _HEX_DATA.fullmatch(data) and len(data) >= 10:
        return bytes.fromhex(data[2:])
    return None
