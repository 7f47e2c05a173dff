"""Signing EIP-1559 transactions for the queue's keys, lean: the RLP by hand (a transaction's fields are
integers, byte strings and one empty list), the secp256k1 signature from libsecp256k1 (coincurve, which
eth_account itself signs with). eth_account's `sign_transaction` validates and re-encodes every field
through several layers, about 4 ms a transaction, and the `rlp` package infers a serializer per item: at
hundreds of transactions a second that alone is a CPU. This is the same signature (RFC 6979, low s; a
test checks the bytes against eth_account's) in a small fraction of that."""

from dataclasses import dataclass

import coincurve
from eth_account import Account
from eth_hash.auto import keccak

from fitmint.txqueue.fees import Fees


@dataclass(frozen=True)
class Signed:
    tx_hash: str  # 0x-hex
    raw: str      # 0x-hex, as eth_sendRawTransaction takes it


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(encoded)]) + encoded


def _rlp_item(item) -> bytes:
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big")  # 0 is the empty string
    elif isinstance(item, list):
        payload = b"".join(map(_rlp_item, item))
        return _length_prefix(len(payload), 0xC0) + payload
    if len(item) == 1 and item[0] < 0x80:
        return item
    return _length_prefix(len(item), 0x80) + item


def rlp_encode(items: list) -> bytes:
    """RLP of a list of non-negative integers, byte strings and lists of them."""
    return _rlp_item(items)


@dataclass(frozen=True)
class Transaction:
    """An EIP-1559 (type 2) transaction without an access list, as the queue sends them."""
    chain_id: int
    nonce: int
    gas_limit: int
    to: str  # 0x-hex
    data: bytes
    value: int
    fees: Fees

    def fields(self) -> list:
        """The unsigned fields, in the order they are RLP-encoded (and signed: keccak(0x02 || rlp(fields)))."""
        return [self.chain_id, self.nonce, self.fees.max_priority_fee_per_gas, self.fees.max_fee_per_gas,
                self.gas_limit, bytes.fromhex(self.to.removeprefix("0x")), self.value, self.data, []]

    def signing_hash(self) -> bytes:
        return keccak(b"\x02" + rlp_encode(self.fields()))


class Signer:
    def __init__(self, private_key: str):
        self.address = Account.from_key(private_key).address.lower()
        self._key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))

    def sign(self, chain_id: int, nonce: int, gas_limit: int, target: str, calldata: bytes, value: int,
             fees: Fees) -> Signed:
        """A type-2 transaction (no access list) to `target`."""
        return self.sign_transaction(Transaction(chain_id, nonce, gas_limit, target, calldata, value, fees))

    def sign_transaction(self, transaction: Transaction) -> Signed:
        signature = self._key.sign_recoverable(transaction.signing_hash(), hasher=None)
        raw = b"\x02" + rlp_encode([*transaction.fields(), signature[64], int.from_bytes(signature[:32], "big"),
                                    int.from_bytes(signature[32:64], "big")])
        return Signed("0x" + keccak(raw).hex(), "0x" + raw.hex())
