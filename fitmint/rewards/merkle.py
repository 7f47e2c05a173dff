"""Merkle distributions for ActivityRewards' epoch mode.

Leaves follow OpenZeppelin's standard Merkle tree: `keccak256(keccak256(abi.encode(index, account,
amount)))`, and parents hash their two children in sorted order, so a proof needs no left/right flags
(what `MerkleProof.verify` expects). Leaf `index` is the position of the entry in the distribution.
"""

from dataclasses import dataclass

from eth_abi import encode
from eth_utils import keccak, to_checksum_address


def leaf_hash(index: int, account: str, amount: int) -> bytes:
    return keccak(keccak(encode(["uint256", "address", "uint256"], [index, to_checksum_address(account), amount])))


def _parent(left: bytes, right: bytes) -> bytes:
    return keccak(left + right) if left <= right else keccak(right + left)


@dataclass(frozen=True)
class Entry:
    account: str
    amount: int


class MerkleDistribution:
    """One epoch's payouts: its root (posted on-chain) and each entry's proof (given to the account)."""

    def __init__(self, entries: list[Entry]):
        if not entries:
            raise ValueError("a distribution needs at least one entry")
        if any(entry.amount <= 0 for entry in entries):
            raise ValueError("every amount must be positive")
        self.entries = list(entries)
        layer = [leaf_hash(i, entry.account, entry.amount) for i, entry in enumerate(self.entries)]
        self._layers = [layer]
        while len(layer) > 1:
            # An unpaired last node moves up unchanged.
            layer = [_parent(layer[i], layer[i + 1]) if i + 1 < len(layer) else layer[i]
                     for i in range(0, len(layer), 2)]
            self._layers.append(layer)

    @property
    def root(self) -> bytes:
        return self._layers[-1][0]

    @property
    def total(self) -> int:
        return sum(entry.amount for entry in self.entries)

    def proof(self, index: int) -> list[bytes]:
        if not 0 <= index < len(self.entries):
            raise IndexError(f"no entry {index} in a distribution of {len(self.entries)}")
        proof = []
        for layer in self._layers[:-1]:
            sibling = index ^ 1
            if sibling < len(layer):
                proof.append(layer[sibling])
            index //= 2
        return proof
