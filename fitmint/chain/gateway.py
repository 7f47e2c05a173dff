"""The chain gateway: the deployed contracts (addresses and ABIs from the deployment manifest) called,
transacted with and decoded through the one JSON-RPC client.

    gateway = ChainGateway.from_settings(settings)
    cap = await gateway.call("ActivityRewards", "dailyCap")
    receipt = await gateway.transact(operator, "Marketplace", "createListing", item, price, supply, cid, treasury)
    [created] = gateway.logs(receipt, "Marketplace", "ListingCreated")

Failures are `ChainUnavailable` (no manifest, no answer, no contract, not mined in time) or
`ChainReverted` (the custom error decoded from every deployed contract's ABI, e.g.
"ListingNotFound(listingId=7)", or the node's refusal of a transaction).
"""

import asyncio
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import httpx
import orjson
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_utils import to_bytes

from fitmint.chain.abi import ContractAbi, DecodedLog
from fitmint.chain.errors import ChainReverted, ChainUnavailable, DecodedError
from fitmint.chain.manifest import Manifest, ManifestError
from fitmint.chain.rpc import Rpc, RpcError
from fitmint.resilience import Backoff

RECEIPT_TIMEOUT_SECONDS = 60.0
DEFAULT_PRIORITY_FEE = 10**9  # 1 gwei, for a node without eth_maxPriorityFeePerGas


@dataclass(frozen=True)
class SignedTransaction:
    action: str  # "Contract.function"
    tx_hash: str
    raw: str
    nonce: int


class ChainGateway:
    def __init__(self, rpc_url: str, manifest_path: Path, *, timeout: float = 10.0,
                 receipt_timeout: float = RECEIPT_TIMEOUT_SECONDS):
        self.rpc_url = rpc_url
        self.manifest_path = Path(manifest_path)
        self.receipt_timeout = receipt_timeout
        self._timeout = timeout
        self._rpc: Rpc | None = None
        self._addresses: dict[str, str] = {}  # contract -> EIP-55 address, from the (once loaded) manifest

    @classmethod
    def from_settings(cls, settings, **options) -> "ChainGateway":
        """The gateway of a `fitmint.settings.KernelSettings`: its node and its manifest."""
        return cls(settings.fitmint_rpc_url, settings.manifest_path(), **options)

    async def close(self) -> None:
        if self._rpc is not None:
            await self._rpc.close()

    # --- the deployment -----------------------------------------------------------------------------------
    @cached_property
    def manifest(self) -> Manifest:
        """Loaded on first use (a service starts without one and answers 503 until it exists)."""
        try:
            return Manifest.load(self.manifest_path)
        except ManifestError as exc:
            raise ChainUnavailable(f"no contracts deployment: {exc}") from exc

    def address(self, contract: str) -> str:
        """The contract's EIP-55 address (computed once: a keccak per call showed in the voucher endpoint's profile)."""
        if (address := self._addresses.get(contract)) is None:
            address = self._addresses[contract] = self._deployed(contract).checksum_address
        return address

    def _deployed(self, contract: str):
        try:
            return self.manifest.contract(contract)
        except ManifestError as exc:
            raise ChainUnavailable(str(exc)) from exc

    def abi(self, contract: str) -> ContractAbi:
        return self._abis[contract]

    @cached_property
    def _abis(self) -> dict[str, ContractAbi]:
        return {name: ContractAbi(name, deployed.abi) for name, deployed in self.manifest.contracts.items()}

    @cached_property
    def _errors(self) -> dict[bytes, ContractAbi]:
        """Which ABI declares each error selector: a revert bubbles up from whichever contract raised it."""
        return {selector: abi for abi in self._abis.values() for selector in abi.errors}

    # --- reading --------------------------------------------------------------------------------------------
    async def call(self, contract: str, function: str, *args, block: str = "latest"):
        """The decoded result of `contract.function(*args)` (eth_call): one value, a tuple of several."""
        address = self.address(contract)
        entry, data = self.abi(contract).function(function, args)
        action = f"{contract}.{function}"
        try:
            result = await self._ask("eth_call", self._node.eth_call({"to": address, "data": _hex(data)}, block))
        except RpcError as exc:
            raise self.reverted(action, exc) from exc
        return self._decoded(contract, function, address, entry, result)

    async def calls(self, *calls: tuple, block: str = "latest") -> list:
        """Several `call`s, `(contract, function, *args)` each, in one JSON-RPC batch (one round trip to the
        node): their decoded results in order. The first call that reverts raises its ChainReverted."""
        results = await self.settled_calls(*calls, block=block)
        for result in results:
            if isinstance(result, ChainReverted | ChainUnavailable):
                raise result
        return results

    async def settled_calls(self, *calls: tuple, block: str = "latest") -> list:
        """`calls`, but each call's failure (ChainReverted, or ChainUnavailable for an answer its ABI does not
        decode) is returned in its place, not raised: one caller's revert does not fail the others' reads. No
        answer at all still raises ChainUnavailable."""
        asked = []
        for contract, function, *args in calls:
            entry, data = self.abi(contract).function(function, tuple(args))
            asked.append((contract, function, self.address(contract), entry, data))
        answers = await self._ask("eth_call", self._node.batch(
            [("eth_call", {"to": address, "data": _hex(data)}, block) for _, _, address, _, data in asked]))
        results = []
        for (contract, function, address, entry, _), answer in zip(asked, answers, strict=True):
            try:
                if isinstance(answer, RpcError):
                    raise self.reverted(f"{contract}.{function}", answer)
                results.append(self._decoded(contract, function, address, entry, answer))
            except (ChainReverted, ChainUnavailable) as exc:
                results.append(exc)
        return results

    def _decoded(self, contract: str, function: str, address: str, entry: dict, result: str | None):
        if result in (None, "0x") and entry["outputs"]:
            raise ChainUnavailable(f"no {contract} contract at {address} on this chain")
        try:
            return ContractAbi.result(entry, to_bytes(hexstr=result))
        except DecodingError as exc:
            raise ChainUnavailable(f"{contract}.{function} at {address} answered what its ABI does not decode: "
                                   f"{exc}") from exc

    async def block_number(self) -> int:
        """The node's latest block: read state at it (`call(..., block=hex(n))`) to get one consistent view."""
        return await self._ask("eth_blockNumber", self._node.block_number())

    # --- transactions ---------------------------------------------------------------------------------------
    async def pending_nonce(self, address: str) -> int:
        return await self._ask("eth_getTransactionCount", self._node.transaction_count(address, "pending"))

    async def sign(self, account: LocalAccount, contract: str, function: str, *args,
                   nonce: int | None = None) -> SignedTransaction:
        """`contract.function(*args)` from `account` as a signed EIP-1559 transaction (the next pending
        nonce unless given). Gas is estimated first: a call that would revert raises ChainReverted here."""
        to = self.address(contract)
        _, data = self.abi(contract).function(function, args)
        action = f"{contract}.{function}"
        try:
            gas = await self._ask("eth_estimateGas", self._node.estimate_gas(
                {"from": account.address, "to": to, "data": _hex(data)}))
        except RpcError as exc:
            raise self.reverted(action, exc) from exc
        base_fee = await self._ask("eth_getBlockByNumber", self._node.base_fee())
        try:
            tip = await self._ask("eth_maxPriorityFeePerGas", self._node.max_priority_fee())
        except RpcError:
            tip = DEFAULT_PRIORITY_FEE
        if nonce is None:
            nonce = await self.pending_nonce(account.address)
        signed = account.sign_transaction({
            "type": 2, "chainId": self.manifest.chain_id, "nonce": nonce, "to": to, "data": data, "value": 0,
            "gas": gas * 12 // 10 + 10_000, "maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip})
        return SignedTransaction(action, signed.hash.to_0x_hex(), signed.raw_transaction.to_0x_hex(), nonce)

    async def send(self, signed: SignedTransaction) -> None:
        """Sends a signed transaction; sending the same bytes again is harmless. A node refusing it (nonce,
        balance, fees) raises ChainReverted with its reason: nothing is pending then."""
        try:
            await self._ask("eth_sendRawTransaction", self._node.send_raw_transaction(signed.raw))
        except RpcError as exc:
            if "already known" in exc.message.lower():
                return
            raise ChainReverted(signed.action, reason=f"the node refused the transaction: {exc.message}") from exc

    async def receipt(self, tx_hash: str) -> dict | None:
        """The transaction's receipt (JSON-RPC form), None while it is not mined."""
        return await self._ask("eth_getTransactionReceipt", self._node.receipt(tx_hash))

    async def known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction at all (mined or pending)."""
        return await self._ask("eth_getTransactionByHash", self._node.transaction(tx_hash)) is not None

    async def wait(self, tx_hash: str, timeout: float | None = None) -> dict:
        """The transaction's receipt once mined; ChainUnavailable after `timeout` seconds (default: the
        gateway's receipt_timeout) without one."""
        timeout = self.receipt_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        backoff = Backoff(first=0.05, cap=1.0)
        while (receipt := await self.receipt(tx_hash)) is None:
            if time.monotonic() > deadline:
                raise ChainUnavailable(f"transaction {tx_hash} not mined within {timeout:g} s")
            await asyncio.sleep(backoff.next_delay())
        return receipt

    async def transact(self, account: LocalAccount, contract: str, function: str, *args,
                       timeout: float | None = None) -> dict:
        """Signs, sends and waits for `contract.function(*args)` from `account`; the receipt of a mined
        transaction, ChainReverted for one that reverted."""
        signed = await self.sign(account, contract, function, *args)
        await self.send(signed)
        receipt = await self.wait(signed.tx_hash, timeout)
        if not succeeded(receipt):
            raise ChainReverted(signed.action, reason=f"transaction {signed.tx_hash} reverted in block "
                                                      f"{int(receipt['blockNumber'], 16)}")
        return receipt

    # --- decoding -------------------------------------------------------------------------------------------
    def logs(self, receipt: dict, contract: str, event: str | None = None) -> list[DecodedLog]:
        """The receipt's logs emitted by `contract` (only `event`'s if named), decoded by its ABI."""
        address = self.address(contract).lower()
        abi = self.abi(contract)
        wanted = abi.topic(event) if event is not None else None
        decoded = []
        for log in receipt.get("logs", []):
            if log["address"].lower() != address or (wanted is not None and log["topics"][:1] != [wanted]):
                continue
            if (entry := abi.log(log)) is not None:
                decoded.append(entry)
        return decoded

    def decode_revert(self, data: str | bytes | None) -> DecodedError | None:
        """The error in revert data, by the ABI of whichever deployed contract declares it."""
        if isinstance(data, str):
            data = to_bytes(hexstr=data) if data.startswith("0x") else None
        if not data or len(data) < 4:
            return None
        abi = self._errors.get(bytes(data[:4]))
        return abi.error(data) if abi is not None else None

    def reverted(self, action: str, failure: RpcError) -> ChainReverted:
        """A node's error answer to a call as ChainReverted, with the custom error when it sent its data."""
        data = failure.data.get("data") if isinstance(failure.data, dict) else failure.data  # some nodes nest it
        error = self.decode_revert(data)
        if error is not None:
            return ChainReverted(action, error)
        if isinstance(data, str) and len(data) >= 10:
            return ChainReverted(action, reason=f"unknown custom error {data}")
        return ChainReverted(action, reason=failure.message)

    # --- the node -------------------------------------------------------------------------------------------
    @property
    def _node(self) -> Rpc:
        if self._rpc is None:
            self._rpc = Rpc(self.rpc_url, timeout=self._timeout)
        return self._rpc

    async def _ask(self, method: str, request):
        """Awaits a JSON-RPC request: no answer is ChainUnavailable, an error answer stays RpcError."""
        try:
            return await request
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            raise ChainUnavailable(f"the chain node at {self.rpc_url} does not answer {method}: {exc!r}") from exc


def succeeded(receipt: dict) -> bool:
    return int(receipt["status"], 16) == 1


def _hex(data: bytes) -> str:
    return "0x" + data.hex()
