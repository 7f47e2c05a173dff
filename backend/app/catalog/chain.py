"""The catalog's chain client: Marketplace and FitItems calls encoded from the ABI files the deployment
manifest names, signed locally with the operator key (eth-account) and sent raw; receipts, the
ListingCreated log and custom-error reverts (the `data` of an RPC error) decoded from the same ABIs."""

import asyncio
import json
import time
from dataclasses import dataclass
from functools import cached_property

import httpx
import orjson
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from backend.app.core.config import Settings
from fitmint.chain.rpc import Rpc, RpcError
from fitmint.chain.manifest import Manifest

RECEIPT_TIMEOUT_SECONDS = 60.0


class ChainUnavailable(Exception):
    """No manifest, node down, or a transaction not mined in time (503)."""


class ChainReverted(Exception):
    """The chain refused a call; `error` is the decoded custom error, e.g. "MarketZeroPrice()"."""

    def __init__(self, action: str, error: str, name: str | None = None):
        super().__init__(f"the chain refused {action}: {error}")
        self.action, self.error, self.name = action, error, name

    @property
    def status(self) -> int:
        # A paused marketplace is a state the caller can wait out (409); anything else means the
        # deployment and the backend disagree (roles, parameters): a bad gateway.
        return 409 if self.name == "EnforcedPause" else 502


@dataclass(frozen=True)
class Signed:
    tx_hash: str
    raw: str
    nonce: int


def _type(param: dict) -> str:
    """An ABI parameter as an eth_abi type string (tuples spelled out)."""
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in param["components"]) + ")" + kind[len("tuple"):]
    return kind


def _shown(kind: str, value) -> str:
    if kind == "address":
        return to_checksum_address(value)
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _signature(entry: dict) -> str:
    return f"{entry['name']}({','.join(_type(p) for p in entry['inputs'])})"


class CatalogChain:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._rpc: Rpc | None = None

    # --- deployment -----------------------------------------------------------------------------------
    @cached_property
    def _deployment(self) -> tuple[Manifest, dict]:
        path = self.settings.manifest_path()
        try:
            return Manifest.load(path), json.loads(path.read_text())
        except Exception as exc:  # noqa: BLE001 - no manifest / malformed: a clear 503 on the listing routes
            raise ChainUnavailable(f"no contracts deployment to list on: {exc}") from exc

    def address(self, contract: str) -> str:
        return to_checksum_address(self._deployment[0].contracts[contract].address)

    def _abi(self, contract: str) -> list[dict]:
        return self._deployment[0].contracts[contract].abi

    @property
    def chain_id(self) -> int:
        return self._deployment[0].chain_id

    @property
    def treasury(self) -> str:
        """The proceeds recipient of catalog listings: the manifest's treasury."""
        try:
            return to_checksum_address(self._deployment[1]["roles"]["treasury"][0])
        except (KeyError, IndexError) as exc:
            raise ChainUnavailable("the deployment manifest names no treasury") from exc

    @cached_property
    def operator(self):
        """The operator account (settings.operator_key(): the key file the deploy script granted roles)."""
        return Account.from_key(self.settings.operator_key())

    @cached_property
    def _errors(self) -> dict[bytes, dict]:
        errors = {}
        for contract in ("Marketplace", "FitItems"):
            for entry in self._abi(contract):
                if entry.get("type") == "error":
                    errors[function_signature_to_4byte_selector(_signature(entry))] = entry
        return errors

    def _function(self, contract: str, name: str) -> dict:
        for entry in self._abi(contract):
            if entry.get("type") == "function" and entry["name"] == name:
                return entry
        raise ChainUnavailable(f"{contract} ABI has no function {name}")

    def calldata(self, contract: str, name: str, args: list) -> str:
        entry = self._function(contract, name)
        types = [_type(p) for p in entry["inputs"]]
        return "0x" + (function_signature_to_4byte_selector(_signature(entry)) + encode(types, args)).hex()

    # --- JSON-RPC ---------------------------------------------------------------------------------------
    async def rpc(self, method: str, *params):
        """A JSON-RPC call; an error answer raises RpcError (with its `data`), no answer ChainUnavailable."""
        if self._rpc is None:
            self._rpc = Rpc(self.settings.fitmint_rpc_url, timeout=10)
        try:
            return await self._rpc.call(method, *params)
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            raise ChainUnavailable(f"the chain node at {self.settings.fitmint_rpc_url} does not answer "
                                   f"{method}: {exc!r}") from exc

    async def read(self, contract: str, name: str, args: list) -> tuple:
        entry = self._function(contract, name)
        try:
            result = await self.rpc("eth_call", {"to": self.address(contract),
                                                 "data": self.calldata(contract, name, args)}, "latest")
        except RpcError as exc:
            raise ChainReverted(f"{contract}.{name}", *self.decode_revert(exc)) from exc
        return decode([_type(p) for p in entry["outputs"]], bytes.fromhex(result[2:]))

    # --- transactions -----------------------------------------------------------------------------------
    async def pending_nonce(self) -> int:
        return int(await self.rpc("eth_getTransactionCount", self.operator.address, "pending"), 16)

    async def sign(self, contract: str, name: str, args: list, nonce: int) -> Signed:
        """Estimates gas (a revert surfaces here, decoded) and signs the call as an EIP-1559 transaction."""
        to, data = self.address(contract), self.calldata(contract, name, args)
        try:
            gas = int(await self.rpc("eth_estimateGas", {"from": self.operator.address, "to": to, "data": data}), 16)
        except RpcError as exc:
            raise ChainReverted(f"{contract}.{name}", *self.decode_revert(exc)) from exc
        block = await self.rpc("eth_getBlockByNumber", "latest", False)
        base_fee = int(block.get("baseFeePerGas") or "0x0", 16)
        try:
            tip = int(await self.rpc("eth_maxPriorityFeePerGas"), 16)
        except RpcError:
            tip = 10**9
        signed = self.operator.sign_transaction({
            "type": 2, "chainId": self.chain_id, "nonce": nonce, "to": to, "data": data, "value": 0,
            "gas": gas * 12 // 10 + 10_000, "maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip})
        return Signed("0x" + bytes(signed.hash).hex().removeprefix("0x"),
                      "0x" + bytes(signed.raw_transaction).hex().removeprefix("0x"), nonce)

    async def send_raw(self, signed: Signed) -> None:
        try:
            await self.rpc("eth_sendRawTransaction", signed.raw)
        except RpcError as exc:
            if "already known" in exc.message.lower():  # a resend of the same bytes: fine
                return
            raise

    async def receipt(self, tx_hash: str) -> dict | None:
        return await self.rpc("eth_getTransactionReceipt", tx_hash)

    async def known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction at all (mined or pending)."""
        return await self.rpc("eth_getTransactionByHash", tx_hash) is not None

    async def wait(self, tx_hash: str, timeout: float = RECEIPT_TIMEOUT_SECONDS) -> dict:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while (receipt := await self.receipt(tx_hash)) is None:
            if time.monotonic() > deadline:
                raise ChainUnavailable(f"transaction {tx_hash} not mined within {timeout:.0f} s; "
                                       "asking again checks it instead of sending another")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        return receipt

    # --- decoding -----------------------------------------------------------------------------------------
    def listing_id(self, receipt: dict) -> int:
        """The listing id of the Marketplace's ListingCreated log in `receipt`."""
        entry = next(e for e in self._abi("Marketplace") if e.get("type") == "event" and e["name"] == "ListingCreated")
        topic = "0x" + keccak(text=_signature(entry)).hex()
        market = self.address("Marketplace").lower()
        for log in receipt.get("logs", []):
            if log["address"].lower() == market and log["topics"] and log["topics"][0] == topic:
                return int(log["topics"][1], 16)  # listingId is the first indexed parameter
        raise ChainUnavailable(f"no ListingCreated log in transaction {receipt.get('transactionHash')}")

    def decode_revert(self, failure: RpcError) -> tuple[str, str | None]:
        """(readable error, custom error name) of a failed call."""
        data = failure.data
        if isinstance(data, dict):  # some nodes nest it
            data = data.get("data")
        if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
            return failure.message, None
        raw = bytes.fromhex(data[2:])
        selector, body = raw[:4], raw[4:]
        if selector == function_signature_to_4byte_selector("Error(string)"):
            return f"Error({decode(['string'], body)[0]!r})", "Error"
        if selector == function_signature_to_4byte_selector("Panic(uint256)"):
            return f"Panic({decode(['uint256'], body)[0]:#x})", "Panic"
        entry = self._errors.get(selector)
        if entry is None:
            return f"unknown custom error {data}", None
        try:
            values = decode([_type(p) for p in entry["inputs"]], body)
        except Exception:  # noqa: BLE001 - name it even when the arguments do not decode
            return f"{entry['name']}(?)", entry["name"]
        shown = ", ".join(f"{p['name']}={_shown(p['type'], v)}" for p, v in zip(entry["inputs"], values))
        return f"{entry['name']}({shown})", entry["name"]

    async def close(self) -> None:
        if self._rpc is not None:
            await self._rpc.close()
