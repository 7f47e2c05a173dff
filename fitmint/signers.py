"""Who signs with the platform's keys: the attestor's (EIP-712 reward vouchers, the API) and the operator
pool's (EIP-1559 transactions, the transaction queue). One interface, two kinds:

- `KeySigner`: the key in this process, read from its secret file (the default; fitmint/keys.py). Signing
  costs what it did before there was an interface: the same libsecp256k1 calls, no I/O.
- `RemoteSigner`: the key in another process that only signs, reached over the Ethereum JSON-RPC signing
  methods: `eth_signTypedData_v4` (EIP-712) and `eth_signTransaction` (execution-apis), the interface every
  Ethereum signer speaks: Web3Signer's eth1 mode, Clef's and geth's, MetaMask, the KMS-backed JSON-RPC
  signers. The platform process then never holds the key (a compromise of it can sign while it lasts, but
  cannot carry the key away), and the signer can keep it in an HSM or a cloud KMS and audit each signature.
  Every answer is checked before use: a typed-data signature must recover to the configured address, a signed
  transaction must be the one asked for (same fields) and signed by that address.

Configured per process (KeySettings.attestor_signer, TxQueueSettings.signers): a signer URL and the
address(es) it signs as, or key files.
"""

import asyncio
from typing import Protocol

import coincurve
import httpx
import rlp
from eth_account.messages import encode_typed_data
from eth_hash.auto import keccak

from fitmint.chain.eip712 import recover_typed
from fitmint.chain.rpc import Rpc, RpcError
from fitmint.txqueue.signing import Signed, Transaction, rlp_encode
from fitmint.txqueue.signing import Signer as LeanSigner

# The EIP-712 method as MetaMask, geth and Anvil name it; Web3Signer answers it as eth_signTypedData (same
# parameters: address, typed data), asked when a signer says the first does not exist.
TYPED_DATA_METHODS = ("eth_signTypedData_v4", "eth_signTypedData")
METHOD_NOT_FOUND = -32601
_SAFE_INTEGER = 2**53 - 1  # beyond it a JSON number loses digits in most parsers: sent as a decimal string


class SignerRefused(Exception):
    """The signer refused, or answered with something that is not what was asked, signed by its address."""


class Eip712Message(Protocol):
    """An EIP-712 message in both forms (e.g. fitmint.rewards.vouchers.VoucherMessage): the full typed data, for
    a signer that must see what it signs, and the digest, for a key in this process."""

    def full_message(self) -> dict: ...

    def digest(self) -> bytes: ...


class Signer(Protocol):
    address: str  # 0x-hex, lower case

    async def sign_typed_data(self, full_message: dict) -> bytes:
        """The 65-byte signature (r || s || v) of an EIP-712 message (fitmint.chain.eip712.typed_message)."""

    async def sign_message(self, message: Eip712Message) -> bytes:
        """The same signature as `sign_typed_data(message.full_message())`, by the quickest way the signer has."""

    async def sign_transactions(self, transactions: list[Transaction]) -> list[Signed]:
        """Each transaction signed, in order."""


class KeySigner:
    """The key in this process, signing with libsecp256k1 (coincurve) directly: transactions through the
    queue's lean signer (fitmint/txqueue/signing.py: RLP by hand; eth_account's path costs ~4 ms each), typed
    data hashed by eth_account and signed here (its own signing parses the key again each time: half the rate),
    an `Eip712Message` by its digest alone (the hashing eth_account does for a full message costs more than the
    signature). libsecp256k1 nonces are RFC 6979 (deterministic: eth_account's signatures, byte for byte) and its
    s is always the low one, which OpenZeppelin's ECDSA requires; v is 27 or 28, as ecrecover takes it."""

    def __init__(self, private_key: str):
        self._lean = LeanSigner(private_key)
        self.address = self._lean.address
        self._key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))

    def sign_digest(self, digest: bytes) -> bytes:
        """r || s || v over a 32-byte digest. Only for digests this process computed from the message itself."""
        signature = self._key.sign_recoverable(digest, hasher=None)
        return signature[:64] + bytes([signature[64] + 27])

    def sign_typed_data_now(self, full_message: dict) -> bytes:
        signable = encode_typed_data(full_message=full_message)  # EIP-191 version 0x01: domain and struct hashes
        return self.sign_digest(keccak(b"\x19" + signable.version + signable.header + signable.body))

    async def sign_typed_data(self, full_message: dict) -> bytes:
        return self.sign_typed_data_now(full_message)

    async def sign_message(self, message: Eip712Message) -> bytes:
        return self.sign_digest(message.digest())

    async def sign_transactions(self, transactions: list[Transaction]) -> list[Signed]:
        return [self._lean.sign_transaction(transaction) for transaction in transactions]


def _json_typed(value):
    """An EIP-712 message as JSON: bytes as 0x-hex, integers past 2^53 as decimal strings (as viem sends them)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INTEGER:
        return str(value)
    if isinstance(value, dict):
        return {key: _json_typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_typed(item) for item in value]
    return value


def transaction_json(transaction: Transaction, sender: str) -> dict:
    """The `eth_signTransaction` parameter. The calldata as both `input` (execution-apis) and `data` (what
    Web3Signer and older signers read): the same bytes."""
    calldata = "0x" + transaction.data.hex()
    return {"from": sender, "to": transaction.to, "type": "0x2", "chainId": hex(transaction.chain_id),
            "nonce": hex(transaction.nonce), "gas": hex(transaction.gas_limit),
            "maxFeePerGas": hex(transaction.fees.max_fee_per_gas),
            "maxPriorityFeePerGas": hex(transaction.fees.max_priority_fee_per_gas), "value": hex(transaction.value),
            "input": calldata, "data": calldata, "accessList": []}


def signed_transaction_of(raw_hex: str, transaction: Transaction, address: str) -> Signed:
    """`raw_hex` checked: a type-2 transaction with exactly `transaction`'s fields, signed by `address`."""
    raw = bytes.fromhex(raw_hex.removeprefix("0x"))
    if raw[:1] != b"\x02":
        raise SignerRefused(f"the signer returned a transaction of type {raw[:1].hex() or 'none'}, not 2 (EIP-1559)")
    try:
        *fields, v, r, s = rlp.decode(raw[1:])
    except (rlp.DecodingError, ValueError) as exc:
        raise SignerRefused(f"the signer returned an undecodable transaction: {exc}") from None
    if rlp_encode(transaction.fields()) != rlp.encode(fields):
        raise SignerRefused(f"the signer signed another transaction than the one asked for (nonce {transaction.nonce} "
                            f"to {transaction.to})")
    signature = (int.from_bytes(r, "big").to_bytes(32, "big") + int.from_bytes(s, "big").to_bytes(32, "big")
                 + bytes([int.from_bytes(v, "big")]))
    try:
        public = coincurve.PublicKey.from_signature_and_message(signature, transaction.signing_hash(), hasher=None)
    except ValueError as exc:
        raise SignerRefused(f"the signer returned an invalid signature: {exc}") from None
    signer = "0x" + keccak(public.format(compressed=False)[1:])[-20:].hex()
    if signer != address:
        raise SignerRefused(f"the transaction was signed by {signer}, not {address}")
    return Signed("0x" + keccak(raw).hex(), "0x" + raw.hex())


class RemoteSigner:
    """A key held by a JSON-RPC signer at `url`, signing as `address`."""

    def __init__(self, url: str, address: str, *, timeout: float = 10.0, max_connections: int = 16):
        self.url = url
        self.address = address.lower()
        self._rpc = Rpc(url, timeout=timeout, max_connections=max_connections)
        self._typed_data_method = TYPED_DATA_METHODS[0]

    async def close(self) -> None:
        await self._rpc.close()

    async def _call(self, method: str, *params):
        try:
            return await self._rpc.call(method, *params)
        except httpx.HTTPStatusError as exc:
            raise SignerRefused(f"the signer at {self.url} answered {method} with HTTP "
                                f"{exc.response.status_code}") from None
        except RpcError as exc:
            if exc.code == METHOD_NOT_FOUND and method == TYPED_DATA_METHODS[0]:
                self._typed_data_method = TYPED_DATA_METHODS[1]
                return await self._call(self._typed_data_method, *params)
            raise SignerRefused(f"the signer at {self.url} refused {method} for {self.address}: "
                                f"{exc.message}") from None

    async def accounts(self) -> list[str]:
        return [account.lower() for account in await self._call("eth_accounts")]

    async def sign_typed_data(self, full_message: dict) -> bytes:
        answer = await self._call(self._typed_data_method, self.address, _json_typed(full_message))
        signature = bytes.fromhex(str(answer).removeprefix("0x"))
        try:
            signer = recover_typed(full_message, signature).lower()
        except Exception as exc:  # noqa: BLE001 - any undecodable answer is a refusal, said as such
            raise SignerRefused(f"the signer at {self.url} returned an invalid signature: {exc}") from None
        if signer != self.address:
            raise SignerRefused(f"the signer at {self.url} signed as {signer}, not {self.address}")
        return signature

    async def sign_message(self, message: Eip712Message) -> bytes:
        # Always the full typed data: a signer shown only a digest could not tell what it signs.
        return await self.sign_typed_data(message.full_message())

    async def sign_transactions(self, transactions: list[Transaction]) -> list[Signed]:
        # One request each, concurrently: every JSON-RPC signer answers single requests (not all take batches).
        answers = await asyncio.gather(*(self._call("eth_signTransaction", transaction_json(transaction, self.address))
                                         for transaction in transactions))
        return [signed_transaction_of(raw, transaction, self.address)
                for raw, transaction in zip(answers, transactions, strict=True)]

