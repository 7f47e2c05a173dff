"""EIP-712 purchase intents: what a buyer's wallet signs so a relayer can make a marketplace purchase for
them (Marketplace.executePurchaseIntent / executePurchaseIntentWithPermit).

The domain is ("FitmintMarketplace", "1", chain id, the Marketplace address); the struct is
`PurchaseIntent(address buyer,uint256 listingId,uint256 quantity,uint256 maxUnitPrice,uint256 nonce,uint256 deadline)`.
`nonce` is the buyer's current nonce of one key, `key << 64 | sequence` (ERC-4337 style): for key 0 that is
`Marketplace.nonces(buyer)`, for another key `Marketplace.nonces(buyer, key)` (which includes the key). An
intent executes once; intents of one key execute in order, intents of different keys independently (a
fresh key costs the relayer a new storage slot, ~15,000 gas more than key 0). The buyer pays and receives;
whoever submits the intent pays the gas only.
"""

from dataclasses import dataclass

from eth_utils import to_checksum_address

from fitmint.chain.eip712 import recover_typed, sign_typed, typed_message

DOMAIN_NAME = "FitmintMarketplace"
DOMAIN_VERSION = "1"
NONCE_KEY_SHIFT = 64
INTENT_FIELDS = [
    {"name": "buyer", "type": "address"},
    {"name": "listingId", "type": "uint256"},
    {"name": "quantity", "type": "uint256"},
    {"name": "maxUnitPrice", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


@dataclass(frozen=True)
class PurchaseIntent:
    buyer: str
    listing_id: int
    quantity: int
    max_unit_price: int
    nonce: int
    deadline: int

    def as_tuple(self) -> tuple:
        """The intent as the contract's calldata struct."""
        return (to_checksum_address(self.buyer), self.listing_id, self.quantity, self.max_unit_price, self.nonce,
                self.deadline)


def keyed_nonce(key: int, sequence: int) -> int:
    """The nonce of the `sequence`-th intent of `key` (key 0: the plain sequence)."""
    if not 0 <= key < 2**192 or not 0 <= sequence < 2**64:
        raise ValueError(f"nonce key {key} or sequence {sequence} out of range")
    return key << NONCE_KEY_SHIFT | sequence


def typed_data(intent: PurchaseIntent, *, chain_id: int, verifying_contract: str) -> dict:
    return typed_message(
        domain_name=DOMAIN_NAME, domain_version=DOMAIN_VERSION, chain_id=chain_id,
        verifying_contract=verifying_contract, primary_type="PurchaseIntent", fields=INTENT_FIELDS,
        message={
            "buyer": to_checksum_address(intent.buyer),
            "listingId": intent.listing_id,
            "quantity": intent.quantity,
            "maxUnitPrice": intent.max_unit_price,
            "nonce": intent.nonce,
            "deadline": intent.deadline,
        },
    )


def sign_intent(intent: PurchaseIntent, private_key, *, chain_id: int, verifying_contract: str) -> bytes:
    """The 65-byte signature (r || s || v) the buyer's wallet hands the relayer with the intent."""
    return bytes(sign_typed(typed_data(intent, chain_id=chain_id, verifying_contract=verifying_contract),
                            private_key).signature)


def recover_signer(intent: PurchaseIntent, signature: bytes, *, chain_id: int, verifying_contract: str) -> str:
    """Who signed `intent` (a relayer checks it names the buyer before spending gas on it)."""
    return recover_typed(typed_data(intent, chain_id=chain_id, verifying_contract=verifying_contract), signature)
